"""The todo tools a model (through `chatbot chat --tools`) or an MCP client (`chatbot mcp`) may
call: one definition of each as a JSON schema, their validation, and their execution as one
GraphQL operation each, with the caller's own key.

Arguments are checked completely (JSON schema with `jsonschema`, then the due date parsed) before
anything is sent, and each tool is exactly one GraphQL operation: a call is carried out whole or
not at all. Every failure (bad JSON, an unknown tool, a refused argument, an error the server
reports) comes back as a `ToolResult` with `error` set, which the caller hands to the model as the
tool's answer: the model may then correct itself.

jsonschema and dateparser load only when a call is checked, so importing this module stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatbot_cli.cli.todo_queries import FIELDS, M_ADD, M_CLEAR, M_DELETE, M_UPDATE, Q_PAGE

# Runs one GraphQL operation and returns its `data`; raises ChatbotError on errors. The CLI
# passes `Client.graphql`; the server's /mcp passes the schema executed in-process.
GraphQL = Callable[[str, dict[str, Any]], dict[str, Any]]

LIST_DEFAULT = 20
LIST_MAX = 100
PRIORITIES = ["none", "low", "medium", "high"]
EDITABLE = ("title", "due", "priority", "tags", "project", "notes")
# Tools that destroy data: the chat asks before running them (MCP clients ask on their own).
DESTRUCTIVE = frozenset({"delete_todo", "clear_completed"})

# Descriptions are short: the schemas go into every prompt, and a small model's context is
# small (SmolLM2 gets 1024 tokens a slot with the default four slots). Lengths are the server's
# to check: it refuses an over-long field whole, which comes back as a tool error.
_ID = {"type": "integer", "minimum": 1, "description": "Todo id, from list_todos."}
_DUE = {
    "type": "string",
    "minLength": 1,
    "description": "Due: 2026-12-24, 2026-12-24T17:00, tomorrow, fri 5pm, in 3 days.",
}
_PRIORITY = {"type": "string", "enum": PRIORITIES}
_TAGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_TITLE = {"type": "string", "minLength": 1}
_TEXT = {"type": "string"}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required or [],
        "additionalProperties": False,
    }


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


_ONE = _obj({"id": _ID}, ["id"])

TOOLS: dict[str, dict[str, Any]] = {
    "list_todos": {
        "description": "List todos, most urgent first (default: pending ones). Finds ids.",
        "parameters": _obj(
            {
                "status": {"type": "string", "enum": ["pending", "done", "all"]},
                "search": {**_TEXT, "description": "Text in the title."},
                "tag": _TEXT,
                "project": _TEXT,
                "priority": _PRIORITY,
                "due": {"type": "string", "enum": ["today", "week", "overdue"]},
                "limit": {"type": "integer", "minimum": 1, "maximum": LIST_MAX},
            }
        ),
    },
    "add_todo": {
        "description": "Add a todo.",
        "parameters": _obj(
            {
                "title": _TITLE,
                "due": _DUE,
                "priority": _PRIORITY,
                "tags": _TAGS,
                "project": _TEXT,
                "notes": _TEXT,
            },
            ["title"],
        ),
    },
    "complete_todo": {"description": "Mark a todo done.", "parameters": _ONE},
    "reopen_todo": {"description": "Mark a todo not done.", "parameters": _ONE},
    "edit_todo": {
        "description": "Change a todo's fields; null clears one.",
        "parameters": _obj(
            {
                "id": _ID,
                "title": _TITLE,
                "due": _nullable(_DUE),
                "priority": _PRIORITY,
                "tags": _TAGS,
                "project": _nullable(_TEXT),
                "notes": _nullable(_TEXT),
            },
            ["id"],
        ),
    },
    "delete_todo": {"description": "Delete a todo.", "parameters": _ONE},
    "clear_completed": {"description": "Delete all done todos.", "parameters": _obj({})},
}


def openai_tools() -> list[dict[str, Any]]:
    """The tools in the `tools` field of an OpenAI chat completion request."""
    return [
        {"type": "function", "function": {"name": name, **spec}} for name, spec in TOOLS.items()
    ]


@dataclass
class ToolResult:
    """What one call did: `result` (JSON-able) when it ran, `error` (one line) when it did not."""

    name: str
    arguments: dict[str, Any] | None
    result: Any = None
    error: str | None = None
    malformed: bool = False  # the call itself was wrong: no such tool, bad JSON, schema refused
    raw: str | None = None  # a malformed call's arguments as sent, for --json

    @property
    def ok(self) -> bool:
        return self.error is None

    def content(self) -> str:
        """The tool message's content: the model reads JSON."""
        body = {"error": self.error} if self.error is not None else self.result
        return json.dumps(body, ensure_ascii=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        out.update({"error": self.error} if self.error is not None else {"result": self.result})
        if self.malformed:
            out["malformed"] = True
            out["raw_arguments"] = self.raw
        return out


class ToolArgumentError(ValueError):
    """Arguments the tool refuses; its message goes back to the model."""


def parse_arguments(name: str, raw: str | dict[str, Any] | None) -> dict[str, Any]:
    """A call's arguments (OpenAI sends a JSON string) checked against the tool's schema.
    Raises ToolArgumentError naming the first problem."""
    if name not in TOOLS:
        raise ToolArgumentError(f"Unknown tool {name!r}; the tools are: {', '.join(TOOLS)}.")
    if raw is None or raw == "":
        args: Any = {}
    elif isinstance(raw, str):
        try:
            args = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ToolArgumentError(f"The arguments are not valid JSON ({exc}).") from None
    else:
        args = raw
    if not isinstance(args, dict):
        raise ToolArgumentError("The arguments must be a JSON object.")
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(TOOLS[name]["parameters"])
    error = next(iter(sorted(validator.iter_errors(args), key=lambda e: list(e.path))), None)
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path)
        raise ToolArgumentError(
            f"Invalid arguments{f' ({where})' if where else ''}: {error.message}."
        )
    return args


def describe_call(name: str, args: dict[str, Any] | str | None) -> str:
    """`add_todo(title="Buy milk", priority="high")`: how a call is shown to the user."""
    if isinstance(args, dict):
        inner = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    else:
        inner = str(args or "")
    return f"{name}({inner})"


def run_tool(graphql: GraphQL, name: str, raw_args: str | dict[str, Any] | None) -> ToolResult:
    """Check then run one call. Never raises for anything the model or the server did."""
    from chatbot_cli.errors import ChatbotError

    args: dict[str, Any] | None = None
    try:
        args = parse_arguments(name, raw_args)
    except ToolArgumentError as exc:
        raw = raw_args if isinstance(raw_args, str) or raw_args is None else json.dumps(raw_args)
        return ToolResult(name, None, error=str(exc), malformed=True, raw=raw)
    try:
        query, variables, shape = _operation(name, args)
    except ToolArgumentError as exc:
        return ToolResult(name, args, error=str(exc))
    except ChatbotError as exc:  # a due date that does not parse
        return ToolResult(name, args, error=exc.message)
    try:
        data = graphql(query, variables)
    except ChatbotError as exc:
        return ToolResult(name, args, error=exc.message)
    try:
        return ToolResult(name, args, result=shape(data))
    except (KeyError, TypeError, AttributeError):
        return ToolResult(name, args, error="The server's answer had an unexpected shape.")


def _operation(
    name: str, args: dict[str, Any]
) -> tuple[str, dict[str, Any], Callable[[dict[str, Any]], Any]]:
    """The one GraphQL operation a call runs, its variables, and how its data is answered."""
    if name == "list_todos":
        return _list(args)
    if name == "add_todo":
        variables = {
            "title": args["title"],
            "due": _due(args.get("due")),
            "priority": _priority(args.get("priority")),
            "tags": args.get("tags"),
            "project": args.get("project"),
            "notes": args.get("notes"),
        }
        return M_ADD, variables, lambda d: {"added": compact(d["createTodo"])}
    if name in ("complete_todo", "reopen_todo"):
        done = name == "complete_todo"
        verb = "completed" if done else "reopened"
        variables = {"id": args["id"], "completed": done}
        return M_UPDATE, variables, lambda d: {verb: compact(d["updateTodo"])}
    if name == "edit_todo":
        return _edit(args)
    if name == "delete_todo":
        return M_DELETE, {"id": args["id"]}, lambda d: {"deleted": compact(d["deleteTodo"])}
    if name == "clear_completed":
        return M_CLEAR, {}, lambda d: {"deleted_count": d["clearCompleted"]}
    raise ToolArgumentError(f"Unknown tool {name!r}.")


def _list(args: dict[str, Any]) -> tuple[str, dict[str, Any], Callable[[dict[str, Any]], Any]]:
    from chatbot_cli.cli.todo_words import due_window

    status = args.get("status", "pending")
    variables: dict[str, Any] = {
        "completed": {"pending": False, "done": True}.get(status),
        "search": args.get("search"),
        "tag": args.get("tag"),
        "project": args.get("project"),
        "priority": _priority(args.get("priority")),
        "sort": "URGENCY",
        "first": args.get("limit", LIST_DEFAULT),
        "after": None,
        **(due_window(args["due"]) if args.get("due") else {}),
    }

    def shape(data: dict[str, Any]) -> Any:
        page = data["todosConnection"]
        todos = [compact(t) for t in page["nodes"]]
        return {"todos": todos, "more": page["pageInfo"]["hasNextPage"]}

    return Q_PAGE, variables, shape


def _edit(args: dict[str, Any]) -> tuple[str, dict[str, Any], Callable[[dict[str, Any]], Any]]:
    changes: dict[str, Any] = {}
    for field in EDITABLE:
        if field in args:
            value = args[field]
            if field == "due":
                value = _due(value)
            elif field == "priority":
                value = _priority(value)
            changes[field] = value
    if not changes:
        raise ToolArgumentError(f"Nothing to change: give at least one of {', '.join(EDITABLE)}.")
    types = {"title": "String", "due": "DateTime", "priority": "Priority", "tags": "[String!]",
             "project": "String", "notes": "String"}  # fmt: skip
    params = ", ".join(f"${n}: {types[n]}" for n in changes)
    passed = ", ".join(f"{n}: ${n}" for n in changes)
    query = f"mutation ($id: Int!, {params}) {{ updateTodo(id: $id, {passed}) {{ {FIELDS} }} }}"
    return query, {"id": args["id"], **changes}, lambda d: {"updated": compact(d["updateTodo"])}


def _due(text: str | None) -> str | None:
    if text is None:
        return None
    from chatbot_cli.cli.todo_words import parse_due

    return parse_due(text).isoformat()


def _priority(name: str | None) -> str | None:
    return name.upper() if name else None


def compact(todo: dict[str, Any]) -> dict[str, Any]:
    """A todo as the model sees it: the fields that are set, no bookkeeping."""
    out: dict[str, Any] = {"id": todo["id"], "title": todo["title"]}
    out["status"] = "done" if todo.get("completed") else "pending"
    if todo.get("due"):
        out["due"] = todo["due"]
    if todo.get("priority") and todo["priority"] != "NONE":
        out["priority"] = todo["priority"].lower()
    for name in ("tags", "project", "notes"):
        if todo.get(name):
            out[name] = todo[name]
    return out


def pending_summary(todos: list[dict[str, Any]], more: bool) -> str:
    """The pending list as plain text for a model's context (`chat --todos`, the MCP resource)."""
    if not todos:
        return "The user has no pending todos."
    lines = [f"The user's pending todos, most urgent first ({len(todos)}{'+' if more else ''}):"]
    for todo in todos:
        t = compact(todo)
        extra = [f"due {t['due']}"] if "due" in t else []
        extra += [f"priority {t['priority']}"] if "priority" in t else []
        extra += [f"project {t['project']}"] if "project" in t else []
        extra += ["tags " + " ".join("+" + x for x in t["tags"])] if "tags" in t else []
        lines.append(f"- #{t['id']} {t['title']}" + (f" ({'; '.join(extra)})" if extra else ""))
    return "\n".join(lines)


def fetch_pending(graphql: GraphQL, limit: int = LIST_MAX) -> tuple[list[dict[str, Any]], bool]:
    """The most urgent pending todos (raw GraphQL nodes), and whether there are more."""
    variables = {"completed": False, "sort": "URGENCY", "first": limit, "after": None}
    page = graphql(Q_PAGE, variables)["todosConnection"]
    return list(page["nodes"]), bool(page["pageInfo"]["hasNextPage"])
