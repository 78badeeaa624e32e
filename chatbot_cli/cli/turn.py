"""One chat turn, shared by `chatbot chat` and the interactive session: the request options, the
request itself with the answer shown as it streams, and what follows (usage line, error hints).

Like the rest of `cli/`, only light modules load at import: rich loads inside the functions that
use it, and the client is handed in.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatbot_cli.toolcalls import merge_tool_call_deltas

if TYPE_CHECKING:
    from chatbot_cli.cli.render import Renderer
    from chatbot_cli.client import Client
    from chatbot_cli.errors import ChatbotError

DEFAULT_MODEL = "default"


@dataclass
class TurnOptions:
    """Everything about a request except the messages; the session may change `model`."""

    model: str = DEFAULT_MODEL
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    stream: bool = True
    usage: bool = False
    raw: bool = False  # in a pipe, print control characters as sent (a terminal never does)
    extra: dict[str, Any] = field(default_factory=dict)  # more body fields: tools, store...

    def body(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.stop:
            body["stop"] = list(self.stop)
        if self.stream and self.usage:
            body["stream_options"] = {"include_usage": True}
        body.update(self.extra)
        return body


@dataclass
class Answer:
    text: str = ""
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    interrupted: bool = False
    response: dict[str, Any] | None = None  # the whole non-stream response, for --json
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # OpenAI's message.tool_calls


def make_renderer(tty: bool, raw: bool = False) -> Renderer:
    from chatbot_cli.cli.render import MarkdownRenderer, PlainRenderer, make_console

    if tty:
        return MarkdownRenderer(make_console(sys.stdout))
    return PlainRenderer(sys.stdout, raw=raw)


def run_turn(
    client: Client, opts: TurnOptions, messages: list[dict[str, Any]], tty: bool
) -> Answer:
    """Send one request and show the answer. Ctrl-C ends it early: `interrupted` is set and the
    connection is closed at once, so the server stops generating. Other errors propagate."""
    answer = Answer()
    body = opts.body(messages)
    if not opts.stream:
        try:
            response = client.chat(body)
        except KeyboardInterrupt:
            answer.interrupted = True
            return answer
        answer.response = response
        choice = (response.get("choices") or [{}])[0]
        answer.text = str((choice.get("message") or {}).get("content") or "")
        answer.tool_calls = list((choice.get("message") or {}).get("tool_calls") or [])
        answer.finish_reason = choice.get("finish_reason")
        answer.usage = response.get("usage")
        return answer

    renderer = make_renderer(tty, opts.raw)
    try:
        with renderer:
            chunks = client.stream_chat(body)
            try:
                for chunk in chunks:
                    if chunk.get("usage"):
                        answer.usage = chunk["usage"]
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        content = delta.get("content")
                        if content:
                            renderer.feed(content)
                        if delta.get("tool_calls"):
                            merge_tool_call_deltas(answer.tool_calls, delta["tool_calls"])
                        if choice.get("finish_reason"):
                            answer.finish_reason = choice["finish_reason"]
            finally:
                # Closing the generator closes the response: the server sees the disconnect.
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
                answer.text = renderer.text
    except KeyboardInterrupt:
        answer.interrupted = True
        answer.text = renderer.text
    return answer


def show_answer(answer: Answer, tty: bool, raw: bool = False) -> None:
    """Print a finished non-stream answer the way a stream would have ended up."""
    if tty:
        from chatbot_cli.cli.render import make_console, print_markdown

        print_markdown(make_console(sys.stdout), answer.text)
    else:
        from chatbot_cli.cli.render import PlainRenderer

        with PlainRenderer(sys.stdout, raw=raw) as out:
            out.feed(answer.text)


def usage_line(usage: dict[str, Any] | None) -> str:
    if not usage:
        return "usage: not reported by the server"
    return "usage: " + " ".join(
        f"{k}={usage.get(k)}" for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    )


def explain(client: Client, exc: ChatbotError) -> ChatbotError:
    """The error with what the user needs to fix it (for an unknown model, the ids there are:
    our server already says them, other OpenAI-compatible servers may not), as a new error:
    errors are never changed once raised."""
    from chatbot_cli.errors import ChatbotError, NotFound

    if (
        isinstance(exc, NotFound)
        and (exc.code == "model_not_found" or exc.param == "model")
        and "Available models:" not in exc.message
    ):
        try:
            ids = [str(m.get("id")) for m in client.models()]
        except ChatbotError:
            return exc
        message = f"{exc.message.rstrip('.')}. Available models: {', '.join(ids) or 'none'}."
        return type(exc)(message, param=exc.param, code=exc.code)
    return exc
