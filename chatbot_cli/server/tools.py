"""Tool calls and structured output on engines that know nothing of them (issue 19).

Three cases, by what the serving engine can do (`ModelInfo.structured`):
- NATIVE (an upstream server): `tools`, `tool_choice`, `parallel_tool_calls`, `response_format`
  and the tool messages are passed on as OpenAI's shapes, and so are the calls that come back.
- GRAMMAR (llama.cpp): `response_format` is llama.cpp's own JSON-schema constraint. With tools,
  generation is constrained to a schema derived from them — `{"tool_calls": [{"name",
  "arguments"}]}` with one alternative per tool, plus `{"content": ...}` where a plain answer is
  allowed — the tools are described in the system message, earlier calls and results are
  written into the conversation as text, and `tool_stream.ToolCallReader` turns the output into
  OpenAI's calls. That works on every model, including those whose chat template has no tool
  support (SmolLM2's has none; llama.cpp then ignores `tools`, see docs/design.md).
- PLAIN (ctransformers): a request that needs either is a 400.

Requests are checked first, whatever the engine (`tool_checks.py`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from chatbot_cli.engine.base import GRAMMAR, NATIVE, Chunk, ModelInfo
from chatbot_cli.errors import InvalidRequest
from chatbot_cli.server.protocol import ChatCompletionRequest, ChatMessage
from chatbot_cli.server.protocol_tools import Tool
from chatbot_cli.server.tool_stream import ToolCallReader

# Calls in one answer: a model that does not know when to stop would otherwise write calls
# until max_tokens cut the last one short.
MAX_CALLS = 8


@dataclass
class Plan:
    """How one request reaches the engine: its messages, the extra body fields, and (with
    constrained tools) the reader each choice's output goes through."""

    messages: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    reader: Callable[[], ToolCallReader] | None = None


# -- planning -------------------------------------------------------------------------------------


def tools_active(body: ChatCompletionRequest) -> bool:
    return bool(body.tools) and body.tool_choice != "none"


def plan_request(body: ChatCompletionRequest, info: ModelInfo | None) -> Plan:
    structured = info.structured if info is not None else NATIVE
    if structured == NATIVE:
        return _native(body)
    fmt = body.response_format
    wants_json = fmt is not None and fmt.type != "text"
    if structured != GRAMMAR:
        if tools_active(body):
            raise InvalidRequest("This engine cannot call tools.", param="tools")
        if wants_json:
            raise InvalidRequest(
                "This engine cannot constrain its output.", param="response_format"
            )
    if not tools_active(body):
        extra = {}
        if wants_json and fmt is not None:
            extra["response_format"] = fmt.model_dump(by_alias=True, exclude_none=True)
        return Plan(text_messages(body.messages, None), extra)
    schema = tool_schema(body)
    extra = {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
    messages = text_messages(body.messages, tools_prompt(body))
    return Plan(messages, extra, ToolCallReader)


def _native(body: ChatCompletionRequest) -> Plan:
    messages = [m.model_dump(exclude_none=True) for m in body.messages]
    for m in messages:
        m.setdefault("content", None)
    extra: dict[str, Any] = {}
    if body.tools:
        extra["tools"] = [t.model_dump(exclude_none=True) for t in body.tools]
    if body.tool_choice is not None:
        choice = body.tool_choice
        extra["tool_choice"] = choice if isinstance(choice, str) else choice.model_dump()
    if body.parallel_tool_calls is not None:
        extra["parallel_tool_calls"] = body.parallel_tool_calls
    if body.response_format is not None:
        extra["response_format"] = body.response_format.model_dump(by_alias=True, exclude_none=True)
    return Plan(messages, extra)


def offered(body: ChatCompletionRequest) -> list[Tool]:
    """The tools the model may call: all of them, or the one tool_choice names."""
    tools = body.tools or []
    choice = body.tool_choice
    if choice is not None and not isinstance(choice, str):
        return [t for t in tools if t.function.name == choice.function.name]
    return tools


# -- the schema -----------------------------------------------------------------------------------


def tool_schema(body: ChatCompletionRequest) -> dict[str, Any]:
    """The JSON schema generation is held to when tools are active."""
    defs: dict[str, Any] = {}
    alternatives = []
    for i, tool in enumerate(offered(body)):
        params = tool.function.parameters
        arguments = (
            _embed(params, f"t{i}_", defs)
            if params is not None
            else {"type": "object", "properties": {}, "additionalProperties": False}
        )
        alternatives.append(
            {
                "type": "object",
                "properties": {"name": {"const": tool.function.name}, "arguments": arguments},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    item = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    limit = 1 if body.parallel_tool_calls is False else MAX_CALLS
    calls: dict[str, Any] = {"type": "array", "items": item, "minItems": 1, "maxItems": limit}
    schema: dict[str, Any] = _object("tool_calls", calls)
    if body.tool_choice in (None, "auto"):
        schema = {"anyOf": [schema, _object("content", _answer_schema(body, defs))]}
    if defs:
        schema["$defs"] = defs
    return schema


def _object(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {key: value},
        "required": [key],
        "additionalProperties": False,
    }


def _answer_schema(body: ChatCompletionRequest, defs: dict[str, Any]) -> dict[str, Any]:
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return {"type": "string"}
    if fmt.type == "json_object" or fmt.json_schema is None or fmt.json_schema.json_schema is None:
        return {"type": "object"}
    return _embed(fmt.json_schema.json_schema, "answer_", defs)


def _embed(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """`schema` made fit to sit inside another one: its own definitions move to the root's
    `$defs` under `prefix`, and its local references follow them."""
    schema = copy.deepcopy(schema)
    own = {**schema.pop("definitions", {}), **schema.pop("$defs", {})}
    schema.pop("$schema", None)
    schema.pop("$id", None)

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if ref == "#":
                    node["$ref"] = f"#/$defs/{prefix}root"
                for base in ("#/$defs/", "#/definitions/"):
                    if ref.startswith(base):
                        node["$ref"] = f"#/$defs/{prefix}{ref[len(base) :]}"
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)
        return node

    for name, sub in own.items():
        defs[prefix + name] = fix(sub)
    fixed = fix(schema)
    if _refers_to_root(fixed, prefix) or any(_refers_to_root(d, prefix) for d in own.values()):
        defs[prefix + "root"] = fixed
    return fixed


def _refers_to_root(node: Any, prefix: str) -> bool:
    return f'"#/$defs/{prefix}root"' in json.dumps(node)


# -- the conversation as text ---------------------------------------------------------------------


def tools_prompt(body: ChatCompletionRequest) -> str:
    tools = offered(body)
    lines = ["You can call these tools (functions):"]
    for tool in tools:
        fn = tool.function
        params = json.dumps(
            fn.parameters or {"type": "object", "properties": {}}, separators=(",", ":")
        )
        lines.append(f"- {fn.name}: {fn.description or ''} Arguments (JSON Schema): {params}")
    call = '{"tool_calls": [{"name": "<tool name>", "arguments": {<arguments>}}]}'
    if body.tool_choice in (None, "auto"):
        lines.append(
            f"To call tools, answer with {call}. To answer the user directly, answer with "
            '{"content": "<your answer>"}. Call a tool only when it helps.'
        )
    elif len(tools) == 1:
        lines.append(f"Call {tools[0].function.name} now; answer with {call}.")
    else:
        lines.append(f"Call one or more of the tools now; answer with {call}.")
    return "\n".join(lines)


def text_messages(messages: list[ChatMessage], tools_text: str | None) -> list[dict[str, Any]]:
    """Plain role/content messages any chat template renders: calls as the JSON the model would
    write, results as user messages naming their call. With `tools_text`, earlier plain answers
    are written in the answer form too, and the tools are described in the system message."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            calls = []
            for call in m.tool_calls:
                names[call.id] = call.function.name
                calls.append(
                    {
                        "name": call.function.name,
                        "arguments": _json_or_text(call.function.arguments),
                    }
                )
            text = json.dumps({"tool_calls": calls})
            out.append({"role": "assistant", "content": (m.text + "\n" + text) if m.text else text})
        elif m.role == "assistant" and tools_text is not None:
            out.append({"role": "assistant", "content": json.dumps({"content": m.text})})
        elif m.role == "tool":
            name = names.get(m.tool_call_id or "", "the tool")
            out.append(
                {"role": "user", "content": f"Result of {name} (call {m.tool_call_id}):\n{m.text}"}
            )
        else:
            out.append({"role": m.role, "content": m.text})
    if tools_text is not None:
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": out[0]["content"] + "\n\n" + tools_text}
        else:
            out.insert(0, {"role": "system", "content": tools_text})
    return out


def _json_or_text(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


# -- the output -----------------------------------------------------------------------------------


async def read_calls(stream: AsyncIterator[Chunk], reader: ToolCallReader) -> AsyncIterator[Chunk]:
    """One choice's constrained output as content and tool-call deltas."""
    async with aclosing(stream):  # type: ignore[type-var]
        async for chunk in stream:
            out = reader.feed(chunk.content)
            finish = chunk.finish_reason
            if finish == "stop" and reader.complete:
                finish = "tool_calls"
            if out.content or out.tool_calls or finish is not None:
                yield Chunk(
                    content=out.content,
                    finish_reason=finish,
                    prompt_tokens=chunk.prompt_tokens,
                    completion_tokens=chunk.completion_tokens,
                    tool_calls=out.tool_calls or None,
                )


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def assistant_message(text: str, calls: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    """The whole response's assistant message: the text, and the calls when there are any."""
    if finish == "length":
        # The token limit cut the last call short: a whole response keeps only complete ones.
        calls = [c for c in calls if _parses(c["function"]["arguments"])]
    if not calls:
        return {"role": "assistant", "content": text}
    return {"role": "assistant", "content": text or None, "tool_calls": calls}
