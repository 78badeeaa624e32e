"""A scripted OpenAI-compatible server: fixed model answers, tool calls included, for the chat →
tool → todo loop run end to end (`chatbot serve --engine openai` in front of it) and for the
todo-tool eval's harness.

A script maps a user message to the assistant's steps in that turn: step k answers the request
that holds k assistant messages after that user message. A step is text, or tool calls given as
(name, arguments) with arguments a dict (sent as JSON) or a raw string (sent as is, to script
malformed calls), or a function of the request's messages that returns one of those (to answer
from a tool result, such as an id a listing returned). Streams send tool calls in OpenAI's
shape: the first delta of a call carries its index, id, type and name, the next ones pieces of
`arguments`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
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


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


def _stream(step: Reply, calls: list[dict[str, Any]]) -> Iterator[str]:
    yield _chunk({"role": "assistant", "content": ""})
    if isinstance(step, str):
        for number, word in enumerate(step.split(" ")):
            yield _chunk({"content": word if number == 0 else " " + word})
        yield _chunk({}, "stop")
    else:
        for index, call in enumerate(calls):
            head = {"name": call["function"]["name"], "arguments": ""}
            yield _chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                          "function": head}]})  # fmt: skip
            args = call["function"]["arguments"]
            half = len(args) // 2
            for piece in (args[:half], args[half:]):
                yield _chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield _chunk({}, "tool_calls")
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    last = {"object": "chat.completion.chunk", "choices": [], "usage": usage}
    yield f"data: {json.dumps(last)}\n\n"
    yield "data: [DONE]\n\n"


def make_app(script: Script) -> Starlette:
    async def models(request: Request) -> Response:
        card = {"id": MODEL, "object": "model", "owned_by": "test", "capabilities": ["tools"]}
        return JSONResponse({"object": "list", "data": [card]})

    async def chat(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            error = {"message": "bad key", "type": "authentication_error", "code": None}
            return JSONResponse({"error": error}, status_code=401)
        body = await request.json()
        script.bodies.append(body)
        step = script.step(body["messages"])
        calls = [] if isinstance(step, str) else _calls(step, len(script.bodies))
        if body.get("stream"):
            return StreamingResponse(_stream(step, calls), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": step if not calls else None}
        if calls:
            message["tool_calls"] = calls
        return JSONResponse(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if calls else "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        )

    return Starlette(
        routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])]
    )


@contextmanager
def scripted_upstream(script: Script) -> Iterator[str]:
    """Serve `script` on a free loopback port; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(make_app(script), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "scripted upstream did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
