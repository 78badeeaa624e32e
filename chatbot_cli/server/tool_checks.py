"""The rules of a request with tools or structured output that pydantic cannot express, checked
whatever the engine, before anything is generated: tool names are unique, each function's
parameters and a `json_schema` response format are valid JSON Schemas whose `$ref`s resolve
inside themselves, a `tool_choice` names one of the given tools, and each tool message answers a
call of the assistant message before it. Each is refused as InvalidRequest with `param` naming
the field (a 400 on /v1/*), where the engine would fail later with no `param` or ignore it.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from chatbot_cli.errors import InvalidRequest
from chatbot_cli.server.protocol import ChatCompletionRequest, ChatMessage


def check_request(body: ChatCompletionRequest) -> None:
    """The cross-field rules pydantic cannot express; InvalidRequest with `param`."""
    tools = body.tools or []
    names = [t.function.name for t in tools]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InvalidRequest(
                f"Two tools are called '{name}'; tool names must be unique.",
                param=f"tools[{i}].function.name",
            )
    for i, tool in enumerate(tools):
        params = tool.function.parameters
        if params is not None:
            where = f"tools[{i}].function.parameters"
            check_schema(params, where)
            if params.get("type", "object") != "object":
                raise InvalidRequest(
                    "A function's parameters must be a JSON Schema of type 'object'.", param=where
                )
    choice = body.tool_choice
    if choice is not None and not tools:
        raise InvalidRequest(
            "'tool_choice' is only allowed when 'tools' are given.", param="tool_choice"
        )
    if choice is not None and not isinstance(choice, str) and choice.function.name not in names:
        shown = choice.function.name[:64]
        raise InvalidRequest(
            f"tool_choice names the function '{shown}', which is not among the tools.",
            param="tool_choice.function.name",
        )
    fmt = body.response_format
    if fmt is not None and fmt.type == "json_schema":
        schema = fmt.json_schema.json_schema if fmt.json_schema else None
        if schema is None:
            raise InvalidRequest(
                "response_format 'json_schema' needs a 'schema'.",
                param="response_format.json_schema.schema",
            )
        check_schema(schema, "response_format.json_schema.schema")
    _check_tool_messages(body.messages)


def check_schema(schema: dict[str, Any], param: str) -> None:
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        at = f" at '{where}'" if where else ""
        raise InvalidRequest(f"Invalid JSON Schema{at}: {exc.message[:300]}", param=param) from None
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"Invalid JSON Schema: {exc}"[:300], param=param) from None
    _check_refs(schema, schema, param)


def _check_refs(node: Any, root: dict[str, Any], param: str) -> None:
    """Every `$ref` points into the same document and resolves: the engine reads nothing else,
    and a dangling one would fail there with no `param`."""
    if isinstance(node, list):
        for value in node:
            _check_refs(value, root, param)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if ref is not None:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise InvalidRequest(
                "Only references into the same schema ('#/...') are supported, "
                f"not {str(ref)[:80]!r}.",
                param=param,
            )
        if not _resolves(root, ref):
            raise InvalidRequest(f"The reference {ref[:80]!r} leads nowhere.", param=param)
    for value in node.values():
        _check_refs(value, root, param)


def _resolves(root: dict[str, Any], ref: str) -> bool:
    target: Any = root
    for part in ref[1:].lstrip("/").split("/") if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return False
    return True


def _check_tool_messages(messages: list[ChatMessage]) -> None:
    """Each tool message answers a call of the assistant message it follows (after other tool
    messages), once, as OpenAI requires."""
    open_calls: set[str] = set()
    for i, message in enumerate(messages):
        if message.role == "tool":
            if message.tool_call_id not in open_calls:
                raise InvalidRequest(
                    f"messages[{i}] answers tool call '{(message.tool_call_id or '')[:64]}', "
                    "which no preceding assistant message made (or it was already answered).",
                    param=f"messages[{i}].tool_call_id",
                )
            open_calls.discard(message.tool_call_id or "")
            continue
        open_calls = {c.id for c in message.tool_calls or []}
