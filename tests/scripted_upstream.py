"""Scripted OpenAI-compatible upstreams (Starlette, on uvicorn in a thread): answers no tiny model
would write on demand, for the tests that put `chatbot serve --engine openai` or UpstreamEngine in
front of them. One module, so the three share one way to stream, fail and start:

- `script_app(Script)`, run by `scripted_upstream`: fixed answers per user message, tool calls
  included, for the chat → tool → todo loop end to end and for the todo-tool eval's harness.
- `by_model_app(UpstreamState)`: behaviour picked by the requested model id (errors, a stream
  that never ends, one that dies, a cut-off one), for UpstreamEngine's tests.
- `page_app(UpstreamState)`, run by `run_upstream`: Markdown with a code block and HTML a browser
  must not run, streamed a few characters at a time, for the page's tests.

`serve_app` runs any ASGI app on a free loopback port (the fronts of tests/server too).

A script maps a user message to the assistant's steps in that turn: step k answers the request
that holds k assistant messages after that user message. A step is text, or tool calls given as
(name, arguments) with arguments a dict (sent as JSON) or a raw string (sent as is, to script
malformed calls), or a function of the request's messages that returns one of those (to answer
from a tool result, such as an id a listing returned). Streams send tool calls in OpenAI's
shape: the first delta of a call carries its index, id, type and name, the next ones pieces of
`arguments`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.live import free_port

MODEL = "scripted"
KEY = "sk-scripted-upstream-key"
DONE = "data: [DONE]\n\n"
USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


# -- what the three share ------------------------------------------------------------------------


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="error", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


@dataclass
class UpstreamState:
    """What a test sees of an upstream: its URL, the bodies it received, whether a client went
    away mid-stream; `models_down` makes its model list fail."""

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    models_down: bool = False
    disconnected: threading.Event = field(default_factory=threading.Event)
    streaming: threading.Event = field(default_factory=threading.Event)


def event(obj: Any) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None, **head: Any) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return event({**head, "object": "chat.completion.chunk", "choices": [choice]})


def env_body(message: str, type_: str | None = None, code: Any = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def envelope(status: int, message: str, type_: str, code: Any = None) -> JSONResponse:
    return JSONResponse(env_body(message, type_, code), status_code=status)


def refused(request: Request) -> Response | None:
    """A 401 envelope unless the request carries KEY."""
    if request.headers.get("authorization") == f"Bearer {KEY}":
        return None
    return envelope(401, "Incorrect API key provided.", "authentication_error")


def models_list(cards: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"object": "list", "data": cards})


def app_of(models: Callable[..., Any], chat: Callable[..., Any]) -> Starlette:
    return Starlette(
        routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])]
    )


async def endless(state: UpstreamState) -> AsyncIterator[str]:
    """Ticks until the client goes away, and records that it went."""
    state.streaming.set()
    try:
        while True:
            yield chunk({"content": "tick "})
            await asyncio.sleep(0.02)
    finally:
        state.disconnected.set()


async def dies(first: str) -> AsyncIterator[str]:
    """Breaks off after `first`, as an upstream process that crashed."""
    yield chunk({"content": first})
    await asyncio.sleep(0.05)
    raise RuntimeError("the upstream process died")


# -- script_app: fixed answers, tool calls included ----------------------------------------------

Call = tuple[str, dict[str, Any] | str]
Reply = str | list[Call]
Step = Reply | Callable[[list[dict[str, Any]]], Reply]


@dataclass
class Script:
    turns: dict[str, list[Step]] = field(default_factory=dict)
    fallback: str = "I can only answer what my script says."
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def step(self, messages: list[dict[str, Any]]) -> Reply:
        last_user = max(i for i, m in enumerate(messages) if m.get("role") == "user")
        text = str(messages[last_user].get("content") or "")
        steps = self.turns.get(text)
        if not steps:
            return self.fallback
        done = sum(1 for m in messages[last_user + 1 :] if m.get("role") == "assistant")
        step = steps[min(done, len(steps) - 1)]
        return step(messages) if callable(step) else step


def _calls(step: list[Call], turn: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{turn}_{i}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            },
        }
        for i, (name, args) in enumerate(step)
    ]


def _script_chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    return chunk(delta, finish, id="chatcmpl-scripted", created=int(time.time()), model=MODEL)


def _stream(step: Reply, calls: list[dict[str, Any]]) -> Iterator[str]:
    yield _script_chunk({"role": "assistant", "content": ""})
    if isinstance(step, str):
        for number, word in enumerate(step.split(" ")):
            yield _script_chunk({"content": word if number == 0 else " " + word})
        yield _script_chunk({}, "stop")
    else:
        for index, call in enumerate(calls):
            head = {"name": call["function"]["name"], "arguments": ""}
            first = {"index": index, "id": call["id"], "type": "function", "function": head}
            yield _script_chunk({"tool_calls": [first]})
            args = call["function"]["arguments"]
            half = len(args) // 2
            for piece in (args[:half], args[half:]):
                piece_delta = {"index": index, "function": {"arguments": piece}}
                yield _script_chunk({"tool_calls": [piece_delta]})
        yield _script_chunk({}, "tool_calls")
    yield event({"object": "chat.completion.chunk", "choices": [], "usage": USAGE})
    yield DONE


def script_app(script: Script) -> Starlette:
    async def models(request: Request) -> Response:
        return models_list(
            [{"id": MODEL, "object": "model", "owned_by": "test", "capabilities": ["tools"]}]
        )

    async def chat(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        body = await request.json()
        script.bodies.append(body)
        step = script.step(body["messages"])
        calls = [] if isinstance(step, str) else _calls(step, len(script.bodies))
        if body.get("stream"):
            return StreamingResponse(_stream(step, calls), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": step if not calls else None}
        if calls:
            message["tool_calls"] = calls
        finish = "tool_calls" if calls else "stop"
        return JSONResponse(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": MODEL,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": USAGE,
            }
        )

    return app_of(models, chat)


@contextmanager
def scripted_upstream(script: Script) -> Iterator[str]:
    """Serve `script` on a free loopback port; yields the base URL."""
    with serve_app(script_app(script)) as url:
        yield url


# -- by_model_app: the model id picks the behaviour ----------------------------------------------

# model id → (status, body, headers) the upstream answers with
ERRORS: dict[str, tuple[int, Any, dict[str, str]]] = {
    "plain-json": (200, {"choices": [{"message": {"content": "whole"}}]}, {}),
    "too-long": (
        400,
        env_body("exceeds the available context size", "exceed_context_size_error"),
        {},
    ),
    "bad-param": (422, env_body("temperature is bad", "invalid_request_error"), {}),
    "broken": (500, env_body("kaboom", "server_error"), {}),
    "gateway": (502, "<html>Bad Gateway</html>", {}),
    "busy": (503, {"error": {"message": "slots full"}}, {"Retry-After": "7"}),
}


def by_model_app(state: UpstreamState) -> Starlette:
    async def models(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return envelope(401, "bad key", "authentication_error", "invalid_api_key")
        if state.models_down:
            return envelope(500, "models broke", "server_error")
        return models_list(
            [
                {"id": "fake-a", "object": "model", "owned_by": "fake", "max_model_len": 512},
                {"id": "fake-b", "object": "model"},
            ]
        )

    async def chat(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        body = await request.json()
        state.bodies.append(body)
        model = body["model"]
        text = body["messages"][-1]["content"]

        async def words() -> AsyncIterator[str]:
            for word in text.split():
                yield chunk({"content": word + " "})
            yield chunk({}, "stop")
            usage = {"prompt_tokens": 11, "completion_tokens": len(text.split())}
            yield event({"choices": [], "usage": usage})
            yield DONE

        async def truncated() -> AsyncIterator[str]:
            yield chunk({"content": "partial "})
            yield DONE

        async def error_event() -> AsyncIterator[str]:
            yield chunk({"content": "partial "})
            err = {"message": "the engine crashed", "type": "server_error", "code": "engine_error"}
            yield event({"error": err})
            yield DONE

        streams: dict[str, Callable[[], AsyncIterator[str]]] = {
            "fake-a": words,
            "endless": lambda: endless(state),
            "dies": lambda: dies("partial "),
            "truncated": truncated,
            "error-event": error_event,
        }
        if model in streams:
            return StreamingResponse(streams[model](), media_type="text/event-stream")
        if model == "hang":
            await asyncio.sleep(2)
        if model in ERRORS:
            status, payload, headers = ERRORS[model]
            if isinstance(payload, str):
                return Response(payload, status_code=status)
            return JSONResponse(payload, status_code=status, headers=headers)
        return envelope(404, f"The model `{model}` does not exist.", "NotFoundError", 404)

    return app_of(models, chat)


# -- page_app: what the page must render safely --------------------------------------------------

CODE = 'print("copied")'
ANSWER = (
    "Here is **bold** text and a `snippet`.\n\n"
    "<script>alert(1)</script>\n\n"
    "Inline <img src=x onerror=alert(2)> too.\n\n"
    f"```python\n{CODE}\n```\n"
    "[a link](javascript:alert(3))\n"
)


def page_app(state: UpstreamState) -> Starlette:
    """Model "scripted" streams ANSWER a few characters at a time; "endless" streams until the
    client goes away; "dies" breaks off after a few words."""

    async def scripted() -> AsyncIterator[str]:
        for start in range(0, len(ANSWER), 7):
            yield chunk({"content": ANSWER[start : start + 7]})
            await asyncio.sleep(0.005)
        yield chunk({"content": ""}, "stop")
        yield DONE

    streams: dict[str, Callable[[], AsyncIterator[str]]] = {
        "scripted": scripted,
        "endless": lambda: endless(state),
        "dies": lambda: dies("partial answer "),
    }

    async def models(request: Request) -> Response:
        return models_list(
            [{"id": name, "object": "model", "owned_by": "script"} for name in streams]
        )

    async def chat(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        body = await request.json()
        stream = streams.get(body["model"], scripted)
        return StreamingResponse(stream(), media_type="text/event-stream")

    return app_of(models, chat)


@contextmanager
def run_upstream() -> Iterator[UpstreamState]:
    state = UpstreamState()
    with serve_app(page_app(state)) as url:
        state.url = url
        yield state
