"""A small fake OpenAI-compatible server for the UpstreamEngine tests (Starlette).

It picks its behaviour from the requested model id, and records what it received and whether the
client went away.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

KEY = "upstream-secret"


@dataclass
class FakeState:
    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    models_down: bool = False
    disconnected: threading.Event = field(default_factory=threading.Event)
    streaming: threading.Event = field(default_factory=threading.Event)


def _envelope(status: int, message: str, type_: str, code: Any = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def _chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {"content": content} if content is not None else {}
    obj = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(obj)}\n\n"


def env_body(message: str, type_: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": None}}


# model id → (status, body, headers) the fake answers with
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


def make_fake(state: FakeState) -> Starlette:
    async def models(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _envelope(401, "bad key", "authentication_error", "invalid_api_key")
        if state.models_down:
            return _envelope(500, "models broke", "server_error")
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": "fake-a", "object": "model", "owned_by": "fake", "max_model_len": 512},
                    {"id": "fake-b", "object": "model"},
                ],
            }
        )

    async def chat(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _envelope(401, "Incorrect API key provided.", "authentication_error")
        body = await request.json()
        state.bodies.append(body)
        model = body["model"]
        text = body["messages"][-1]["content"]

        async def words() -> AsyncIterator[str]:
            for word in text.split():
                yield _chunk(word + " ")
            yield _chunk(None, "stop")
            usage = {"prompt_tokens": 11, "completion_tokens": len(text.split())}
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        async def endless() -> AsyncIterator[str]:
            state.streaming.set()
            try:
                while True:
                    yield _chunk("tick ")
                    await asyncio.sleep(0.02)
            finally:
                state.disconnected.set()

        async def dies() -> AsyncIterator[str]:
            yield _chunk("partial ")
            await asyncio.sleep(0.05)
            raise RuntimeError("upstream process died")

        async def truncated() -> AsyncIterator[str]:
            yield _chunk("partial ")
            yield "data: [DONE]\n\n"

        async def error_event() -> AsyncIterator[str]:
            yield _chunk("partial ")
            err = {"message": "the engine crashed", "type": "server_error", "code": "engine_error"}
            yield f"data: {json.dumps({'error': err})}\n\n"
            yield "data: [DONE]\n\n"

        streams = {
            "fake-a": words,
            "endless": endless,
            "dies": dies,
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
        return _envelope(404, f"The model `{model}` does not exist.", "NotFoundError", 404)

    return Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )
