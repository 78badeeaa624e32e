"""The serving layer in-process (httpx ASGITransport) against a scripted engine: framing, fan-out,
usage, error mapping and cancellation, independent of llama.cpp."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chatbot_cli.config import load_settings
from chatbot_cli.engine.base import GRAMMAR, Chunk, GenerationRequest, ModelInfo
from chatbot_cli.errors import ChatbotError, ContextLengthExceeded, EngineFailure, Overloaded
from chatbot_cli.server.app import create_app
from tests.server.conftest import SWAGGER_BODY

KEY = "sk-unit-test"
HEADERS = {"Authorization": f"Bearer {KEY}"}

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("migrated_database")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ScriptedEngine:
    """Yields `words` one chunk each (prefixed by the choice's seed when given), then a finish
    chunk; can fail before or after the first chunk, and tracks open streams."""

    def __init__(
        self,
        words: list[str] | None = None,
        *,
        before: ChatbotError | None = None,
        after: int | None = None,
        delay: float = 0.0,
    ) -> None:
        self.words = words if words is not None else ["Hello", " there", "!"]
        self.before = before
        self.after = after
        self.delay = delay
        self.requests: list[GenerationRequest] = []
        self.open = 0
        self.closed = 0

    @property
    def models(self) -> list[ModelInfo]:
        return [ModelInfo("tiny", None, None, 512, structured=GRAMMAR)]

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {"busy_slots": self.open, "queue_depth": 0, "slots": 4}

    async def stream(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        self.requests.append(request)
        if self.before is not None:
            raise self.before
        self.open += 1
        try:
            limit = request.max_tokens or len(self.words)
            prefix = f"[{request.seed}]" if request.seed is not None else ""
            for i, word in enumerate(self.words[:limit]):
                if self.after is not None and i == self.after:
                    raise EngineFailure("Generation failed: boom")
                if self.delay:
                    await asyncio.sleep(self.delay)
                yield Chunk(prefix + word if i == 0 else word)
            reason = "length" if limit < len(self.words) else "stop"
            yield Chunk("", reason, prompt_tokens=7, completion_tokens=min(limit, len(self.words)))
        finally:
            self.open -= 1
            self.closed += 1


def make_app(engine: Any, **settings: Any) -> FastAPI:
    return create_app(load_settings(api_key=KEY, **settings), engine=engine)


@asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run (ASGITransport does not run it), as uvicorn would."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers=HEADERS
        ) as c,
    ):
        yield c


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], **kw}


def sse_data(text: str) -> list[str]:
    return [line[5:] for line in text.split("\n") if line.startswith("data:")]


async def test_non_streaming_shape() -> None:
    async with client(make_app(ScriptedEngine())) as c:
        r = await c.post("/v1/chat/completions", json=body())
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["id"].startswith("chatcmpl-") and data["object"] == "chat.completion"
    assert data["model"] == "tiny" and isinstance(data["created"], int)
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there!"},
            "finish_reason": "stop",
        }
    ]
    assert data["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


async def test_default_alias_and_max_tokens_zero_means_no_limit() -> None:
    engine = ScriptedEngine()
    async with client(make_app(engine)) as c:
        r = await c.post(
            "/v1/chat/completions",
            json={**SWAGGER_BODY, "model": "default"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "default"
    assert engine.requests[0].max_tokens is None
    assert engine.requests[0].temperature == 0.7 and engine.requests[0].top_p == 1


async def test_length_finish_and_parameters_reach_engine() -> None:
    engine = ScriptedEngine()
    payload = body(
        max_completion_tokens=2,
        stop="x",
        seed=5,
        presence_penalty=0.5,
        frequency_penalty=-1,
        response_format={"type": "json_object"},
    )
    async with client(make_app(engine)) as c:
        r = await c.post("/v1/chat/completions", json=payload)
    assert r.json()["choices"][0]["finish_reason"] == "length"
    req = engine.requests[0]
    assert (req.max_tokens, req.stop, req.seed) == (2, ["x"], 5)
    assert (req.presence_penalty, req.frequency_penalty) == (0.5, -1)
    assert req.extra == {"response_format": {"type": "json_object"}}


async def test_n_choices_fan_out_with_seeds() -> None:
    engine = ScriptedEngine()
    async with client(make_app(engine)) as c:
        r = await c.post("/v1/chat/completions", json=body(n=3, seed=10))
    data = r.json()
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert [c["message"]["content"] for c in data["choices"]] == [
        f"[{s}]Hello there!" for s in (10, 11, 12)
    ]
    assert data["usage"] == {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}


async def test_stream_framing() -> None:
    async with client(make_app(ScriptedEngine())) as c:
        r = await c.post("/v1/chat/completions", json=body(stream=True))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-accel-buffering"] == "no"
    assert "\r" not in r.text
    data = sse_data(r.text)
    assert data[-1] == "[DONE]" and r.text.endswith("data:[DONE]\n\n")
    chunks = [json.loads(d) for d in data[:-1]]
    assert len({(c["id"], c["created"]) for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "tiny" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all(isinstance(d["content"], str) for d in deltas)
    assert "".join(d["content"] for d in deltas) == "Hello there!"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and deltas[-1] == {"content": ""}
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert all("usage" not in c for c in chunks)


async def test_stream_include_usage_and_n() -> None:
    async with client(make_app(ScriptedEngine())) as c:
        r = await c.post(
            "/v1/chat/completions",
            json=body(stream=True, n=2, stream_options={"include_usage": True}),
        )
    chunks = [json.loads(d) for d in sse_data(r.text)[:-1]]
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 6
    text = {0: "", 1: ""}
    finishes = {}
    for chunk in chunks[:-1]:
        (choice,) = chunk["choices"]
        text[choice["index"]] += choice["delta"]["content"]
        if choice["finish_reason"]:
            finishes[choice["index"]] = choice["finish_reason"]
    assert text == {0: "Hello there!", 1: "Hello there!"}
    assert finishes == {0: "stop", 1: "stop"}


@pytest.mark.parametrize(
    "error,status,code",
    [
        (ContextLengthExceeded("too long", param="messages"), 400, "context_length_exceeded"),
        (Overloaded("busy", retry_after=3), 503, "server_overloaded"),
        (EngineFailure("broken"), 500, "engine_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_errors_before_first_chunk_are_http_errors(
    error: ChatbotError, status: int, code: str, stream: bool
) -> None:
    async with client(make_app(ScriptedEngine(before=error))) as c:
        r = await c.post("/v1/chat/completions", json=body(stream=stream))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    if status == 503:
        assert r.headers["retry-after"] == "3"


async def test_error_mid_stream_is_an_event_then_done() -> None:
    engine = ScriptedEngine(after=2)
    async with client(make_app(engine)) as c:
        r = await c.post("/v1/chat/completions", json=body(stream=True))
    assert r.status_code == 200
    data = sse_data(r.text)
    assert data[-1] == "[DONE]"
    err = json.loads(data[-2])["error"]
    assert err["code"] == "engine_error" and err["type"] == "server_error"
    assert engine.open == 0


async def test_unknown_model_is_404_without_touching_engine() -> None:
    engine = ScriptedEngine()
    async with client(make_app(engine)) as c:
        for stream in (False, True):
            r = await c.post("/v1/chat/completions", json=body(model="gpt-9", stream=stream))
            assert r.status_code == 404
            err = r.json()["error"]
            assert err["code"] == "model_not_found" and err["param"] == "model"
        r = await c.get("/v1/models/gpt-9")
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert engine.requests == []


async def test_models_endpoints() -> None:
    async with client(make_app(ScriptedEngine())) as c:
        listing = (await c.get("/v1/models")).json()
        one = (await c.get("/v1/models/tiny")).json()
    assert listing["object"] == "list"
    (card,) = listing["data"]
    assert set(card) == {"id", "object", "created", "owned_by", "capabilities"}
    assert card["id"] == "tiny" and card["object"] == "model"
    # It takes tools (held to their schema) but was not trained for them: no "tools" listed,
    # so clients do not turn them on by default.
    assert card["capabilities"] == ["response_format"]
    assert one == card


async def test_a_model_trained_for_tools_lists_them() -> None:
    class Trained(ScriptedEngine):
        @property
        def models(self) -> list[ModelInfo]:
            return [ModelInfo("tiny", None, None, 512, structured=GRAMMAR, tool_template=True)]

    async with client(make_app(Trained())) as c:
        card = (await c.get("/v1/models/tiny")).json()
    assert card["capabilities"] == ["tools", "response_format"]


@pytest.mark.parametrize(
    "limits,payload,param",
    [
        ({"max_messages": 1}, body(messages=[{"role": "user", "content": "a"}] * 2), "messages"),
        ({"max_prompt_chars": 3}, body(messages=[{"role": "user", "content": "abcd"}]), "messages"),
        ({"max_tokens_limit": 10}, body(max_tokens=11), "max_tokens"),
        ({"max_tokens_limit": 10}, body(max_completion_tokens=11), "max_completion_tokens"),
    ],
)
async def test_settings_limits(limits: dict[str, int], payload: dict[str, Any], param: str) -> None:
    engine = ScriptedEngine()
    async with client(make_app(engine, **limits)) as c:
        r = await c.post("/v1/chat/completions", json=payload)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == param and err["type"] == "invalid_request_error"
    assert engine.requests == []


async def test_fan_out_cancel_closes_every_engine_stream() -> None:
    from chatbot_cli.server.fanout import FanOut

    engine = ScriptedEngine(words=["w"] * 200, delay=0.01)
    fan = FanOut(engine, "tiny", [GenerationRequest(messages=[]) for _ in range(2)])
    await fan.wait_admitted(1.0)
    assert engine.open == 2
    fan.cancel()
    for _ in range(100):
        if engine.open == 0:
            break
        await asyncio.sleep(0.01)
    assert engine.open == 0 and engine.closed == 2
