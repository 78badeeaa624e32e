"""`chatbot chat` with the todo tools: the tool-call loop of one turn, shared by the one-shot
command and the interactive session.

A turn sends the conversation with the tools (`chatbot_cli/todo_tools.py`) in OpenAI's format;
while the model answers with `tool_calls`, each call is shown as one dim line on stderr, run
through GraphQL with the user's key, and its result sent back as a `tool` message; then the model
is asked again. After `rounds` rounds of calls the model is asked once more with
`tool_choice: "none"`, so a model that keeps calling cannot loop. Calls that destroy data ask
first on a terminal and are refused in a pipe unless `--yes`.

The tool exchange belongs to the turn: only the final answer joins the conversation (and its
log), so a conversation stays plain messages any model and `--no-tools` can continue.

Whether tools are on by default is the model's card in /v1/models: on when it lists "tools" in
`capabilities` (our server, LM Studio, Ollama-style) or in `supported_parameters` (OpenRouter
style); otherwise, or when the list cannot be read, off. Our server lists "tools" only for a model
trained for them (its chat template reads `tools`, or an upstream's card says so), not for every
model whose calls it can hold to a schema: SmolLM2 answers worse and far slower with tools.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from chatbot_cli.cli.turn import Answer, run_turn

if TYPE_CHECKING:
    from chatbot_cli.cli.turn import TurnOptions
    from chatbot_cli.client import Client
    from chatbot_cli.todo_tools import ToolResult

DEFAULT_ROUNDS = 4
_DIM, _RESET = "\x1b[2m", "\x1b[0m"


@dataclass
class ChatTools:
    """What a turn may do besides asking the model: call the todo tools, or show it the list."""

    enabled: bool = False
    rounds: int = DEFAULT_ROUNDS
    yes: bool = False  # run destructive calls without asking
    todos: bool = False  # put the pending todos into the context of every turn


@dataclass
class ToolTurn:
    answer: Answer
    results: list[ToolResult] = field(default_factory=list)
    stopped: bool = False  # the model still wanted tools after the last round


def model_supports_tools(client: Client, model: str) -> bool:
    """The rule for the `--tools` default (see the module docstring)."""
    from chatbot_cli.errors import ChatbotError

    try:
        cards = client.models()
    except ChatbotError:
        return False
    card = next((c for c in cards if c.get("id") == model), None)
    if card is None and model == "default" and cards:
        card = cards[0]  # our server serves its first model as "default"
    if card is None:
        return False
    listed = [*(card.get("capabilities") or ()), *(card.get("supported_parameters") or ())]
    return "tools" in listed


def converse(
    client: Client,
    opts: TurnOptions,
    messages: list[dict[str, Any]],
    tty: bool,
    tools: ChatTools | None = None,
) -> ToolTurn:
    """One turn: with tools, the whole call loop; without, one request. Errors propagate."""
    tools = tools or ChatTools()
    history: list[dict[str, Any]] = list(messages)
    if tools.todos:
        history = with_context(history, pending_context(client))
    if not tools.enabled:
        return ToolTurn(run_turn(client, opts, history, tty))
    from chatbot_cli.todo_tools import openai_tools

    base = {**opts.extra, "tools": openai_tools()}
    turn = ToolTurn(Answer())
    for round_ in range(tools.rounds + 1):
        last = round_ == tools.rounds
        choice = "none" if last else "auto"
        turn.answer = run_turn(
            client, replace(opts, extra={**base, "tool_choice": choice}), history, tty
        )
        calls = turn.answer.tool_calls
        if turn.answer.interrupted or not calls:
            break
        if last:
            turn.stopped = True
            note(f"Stopped after {tools.rounds} tool rounds.")
            break
        for number, call in enumerate(calls):
            # A tool message must name its call; a server that sent no id gets one made up.
            call["id"] = call.get("id") or f"call_{round_}_{number}"
        history.append(
            {"role": "assistant", "content": turn.answer.text or None, "tool_calls": calls}
        )
        for call in calls:
            result = run_call(client, call, tools.yes)
            turn.results.append(result)
            history.append(
                {"role": "tool", "tool_call_id": call["id"], "content": result.content()}
            )
        if base.get("store"):
            base = _same_conversation(base, client.conversation_id)
    return turn


def _same_conversation(fields: dict[str, Any], conversation_id: str | None) -> dict[str, Any]:
    """A kept turn's later rounds go into the conversation its first round started, not a new
    one each (cli/chat_log.py asks for a new or named one until the server names it)."""
    if "conversation" in fields or conversation_id is None:
        return fields
    rest = {k: v for k, v in fields.items() if k != "conversation_name"}
    return {**rest, "conversation": conversation_id}


def run_call(client: Client, call: dict[str, Any], yes: bool) -> ToolResult:
    """Show, confirm if needed, and run one call; what went wrong is the result's error."""
    from chatbot_cli.todo_tools import DESTRUCTIVE, ToolResult, describe_call, run_tool

    function = call.get("function") or {}
    name = str(function.get("name") or "")
    raw = function.get("arguments")
    try:
        from chatbot_cli.todo_tools import parse_arguments

        shown: Any = parse_arguments(name, raw)
    except ValueError:
        shown = raw
    note("→ " + describe_call(name, shown))
    if name in DESTRUCTIVE and not yes:
        refusal = confirm_refusal(name)
        if refusal:
            note("  " + refusal)
            return ToolResult(name, shown if isinstance(shown, dict) else None, error=refusal)
    result = run_tool(client.graphql, name, raw)
    if result.error is not None:
        note(f"  ✗ {result.error}")
    return result


def confirm_refusal(name: str) -> str | None:
    """None when the user allows a destructive call; else why it was not run."""
    if not sys.stdin or not sys.stdin.isatty():
        return (
            f"Not run: {name} deletes todos and needs confirmation; the user can allow it "
            "with `chatbot chat --yes`."
        )
    sys.stderr.write(f"Allow {name}? [y/N] ")
    sys.stderr.flush()
    try:
        reply = sys.stdin.readline()
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        reply = ""
    if reply.strip().lower() in ("y", "yes"):
        return None
    return f"Not run: the user declined {name}."


def note(text: str) -> None:
    """One line on stderr, dim on a terminal: tool activity is not part of the answer."""
    from chatbot_cli.cli.sanitize import one_line

    line = one_line(text)
    dim = sys.stderr.isatty()
    sys.stderr.write(f"{_DIM}{line}{_RESET}\n" if dim else line + "\n")
    sys.stderr.flush()


def pending_context(client: Client) -> str:
    from chatbot_cli.todo_tools import fetch_pending, pending_summary

    todos, more = fetch_pending(client.graphql)
    return pending_summary(todos, more)


def with_context(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The messages with `text` added to the system message (one is made if there is none):
    some chat templates take only one system message, first."""
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{text}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def json_output(turn: ToolTurn) -> dict[str, Any]:
    """`--json`: the last chat.completion, with every call of the turn and its result."""
    out = dict(turn.answer.response or {})
    out["tool_results"] = [r.to_json() for r in turn.results]
    if turn.stopped:
        out["tool_rounds_exhausted"] = True
    return out
