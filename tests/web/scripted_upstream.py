"""A scripted OpenAI-compatible upstream for the page's tests (Starlette, run in a thread).

`chatbot serve --engine openai` forwards to it, so the page meets answers no tiny model would
write on demand: Markdown with a code block, and HTML a browser must not run. Model "scripted"
streams ANSWER a few characters at a time; "endless" streams until the client goes away, and
records that it went; "dies" breaks off after a few words.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.live import free_port

KEY = "scripted-upstream-key"
CODE = 'print("copied")'
ANSWER = (
    "Here is **bold** text and a `snippet`.\n\n"
    "<script>alert(1)</script>\n\n"
    "Inline <img src=x onerror=alert(2)> too.\n\n"
    f"```python\n{CODE}\n```\n"
    "[a link](javascript:alert(3))\n"
)


@dataclass
class UpstreamState:
    url: str = ""
    disconnected: threading.Event = field(default_factory=threading.Event)
    streaming: threading.Event = field(default_factory=threading.Event)


def _chunk(content: str, finish: str | None = None) -> str:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    return f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n"


def make_app(state: UpstreamState) -> Starlette:
    async def models(request: Request) -> Response:
        data = [{"id": name, "object": "model", "owned_by": "script"} for name in MODELS]
        return JSONResponse({"object": "list", "data": data})

    async def scripted() -> AsyncIterator[str]:
        for start in range(0, len(ANSWER), 7):
            yield _chunk(ANSWER[start : start + 7])
            await asyncio.sleep(0.005)
        yield _chunk("", "stop")
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
        yield _chunk("partial answer ")
        await asyncio.sleep(0.05)
        raise RuntimeError("the upstream process died")

    async def chat(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        body = await request.json()
        stream = MODELS.get(body["model"], scripted)
        return StreamingResponse(stream(), media_type="text/event-stream")

    MODELS = {"scripted": scripted, "endless": endless, "dies": dies}
    return Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat, methods=["POST"]),
        ]
    )


@contextmanager
def run_upstream() -> Iterator[UpstreamState]:
    state = UpstreamState()
    port = free_port()
    config = uvicorn.Config(
        make_app(state), host="127.0.0.1", port=port, log_level="error", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "upstream did not start"
        time.sleep(0.01)
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(5)
