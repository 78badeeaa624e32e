"""UpstreamEngine against a small fake OpenAI-compatible server (tests/scripted_upstream.py's
by_model_app, on uvicorn in a thread).

The fake picks its behaviour from the requested model id, and records what it received and
whether the client went away, so forwarding, error mapping and disconnects are checked over real
HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from chatbot_cli.engine.base import Chunk, Engine, GenerationRequest
from chatbot_cli.engine.upstream import UpstreamEngine, normalise_base_url
from chatbot_cli.errors import (
    ChatbotError,
    ConfigError,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    UpstreamFailure,
    UpstreamTimeout,
)
from tests.live import free_port
from tests.scripted_upstream import KEY, UpstreamState, by_model_app, env_body, serve_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def fake() -> Iterator[UpstreamState]:
    state = UpstreamState()
    with serve_app(by_model_app(state)) as state.url:
        yield state


@pytest.fixture
async def engine(fake: UpstreamState) -> AsyncIterator[UpstreamEngine]:
    fake.bodies.clear()
    fake.disconnected.clear()
    fake.streaming.clear()
    eng = UpstreamEngine(fake.url + "/v1", KEY, parallel=2, queue_size=1, read_timeout=0.5)
    await eng.start()
    yield eng
    await eng.close()


def req(text: str = "hello there world", **kw: Any) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": text}], **kw)


async def collect(eng: UpstreamEngine, model: str, request: GenerationRequest) -> list[Chunk]:
    return [c async for c in eng.stream(model, request)]


# -- configuration and models ---------------------------------------------------------------------


def test_url_normalised_and_checked() -> None:
    assert normalise_base_url("http://h:1/v1/") == "http://h:1"
    assert normalise_base_url("https://h/api") == "https://h/api"
    with pytest.raises(ConfigError, match="http://"):
        normalise_base_url("h:1")
    with pytest.raises(ConfigError, match="--upstream-url"):
        UpstreamEngine(None)


async def test_models_fetched_at_start(engine: UpstreamEngine) -> None:
    assert isinstance(engine, Engine)
    models = {m.id: m for m in engine.models}
    assert set(models) == {"fake-a", "fake-b"}
    assert models["fake-a"].context_length == 512
    assert models["fake-a"].owned_by == "fake"
    assert models["fake-b"].owned_by == "upstream"


async def test_start_with_upstream_down_then_models_appear(fake: UpstreamState) -> None:
    fake.models_down = True
    eng = UpstreamEngine(fake.url, KEY, retry_interval=0.0)
    try:
        await eng.start()  # starts anyway, with a warning
        assert eng.models == []  # also schedules a background refresh
        fake.models_down = False
        for _ in range(100):
            if eng.models:
                break
            await asyncio.sleep(0.02)
        assert [m.id for m in eng.models] == ["fake-a", "fake-b"]
    finally:
        fake.models_down = False
        await eng.close()


async def test_default_means_first_upstream_model(
    engine: UpstreamEngine, fake: UpstreamState
) -> None:
    await collect(engine, "default", req("x"))
    assert fake.bodies[-1]["model"] == "fake-a"
    with pytest.raises(ModelNotFound):
        await collect(engine, "other", req("x"))
    assert fake.bodies[-1]["model"] == "other"  # sent as is: the upstream decides


async def test_model_list_refetched_before_forwarding_when_unknown(fake: UpstreamState) -> None:
    fake.models_down = True
    eng = UpstreamEngine(fake.url, KEY, retry_interval=0.0)
    try:
        await eng.start()
        fake.models_down = False
        fake.bodies.clear()
        chunks = await collect(eng, "default", req("back again"))
        assert fake.bodies[-1]["model"] == "fake-a"
        assert "".join(c.content for c in chunks) == "back again "
    finally:
        fake.models_down = False
        await eng.close()


async def test_unreachable_upstream_starts_but_generation_is_502() -> None:
    eng = UpstreamEngine(f"http://127.0.0.1:{free_port()}")
    await eng.start()
    try:
        assert eng.models == []
        with pytest.raises(UpstreamFailure, match="Cannot reach the upstream") as info:
            await collect(eng, "any", req())
        assert info.value.status == 502
        assert info.value.envelope()["error"]["code"] == "upstream_error"
    finally:
        await eng.close()
    await eng.close()  # idempotent


# -- streaming ------------------------------------------------------------------------------------


async def test_stream_chunks_finish_and_usage(engine: UpstreamEngine, fake: UpstreamState) -> None:
    chunks = await collect(engine, "fake-a", req("one two three"))
    assert "".join(c.content for c in chunks) == "one two three "
    assert [c.content for c in chunks[:-1]] == ["one ", "two ", "three "]
    last = chunks[-1]
    assert (last.finish_reason, last.prompt_tokens, last.completion_tokens) == ("stop", 11, 3)
    assert all(c.finish_reason is None for c in chunks[:-1])


async def test_parameters_passed_through(engine: UpstreamEngine, fake: UpstreamState) -> None:
    request = req(
        "x",
        max_tokens=7,
        temperature=0.5,
        top_p=0.9,
        stop=["END"],
        seed=42,
        presence_penalty=0.1,
        extra={"response_format": {"type": "json_object"}},
    )
    await collect(engine, "fake-a", request)
    body = fake.bodies[-1]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 7 and body["temperature"] == 0.5 and body["top_p"] == 0.9
    assert body["stop"] == ["END"] and body["seed"] == 42 and body["presence_penalty"] == 0.1
    assert body["response_format"] == {"type": "json_object"}
    assert "frequency_penalty" not in body  # unset values are left to the upstream's defaults
    await collect(engine, "fake-a", req("y"))
    assert "stop" not in fake.bodies[-1] and "seed" not in fake.bodies[-1]


async def test_non_streaming_upstream_answer_is_a_502(engine: UpstreamEngine) -> None:
    with pytest.raises(UpstreamFailure, match="did not answer with an event stream"):
        await collect(engine, "plain-json", req())


async def test_close_iterator_closes_upstream_request(
    engine: UpstreamEngine, fake: UpstreamState
) -> None:
    stream = engine.stream("endless", req())
    first = await anext(stream)  # type: ignore[call-overload]
    assert first.content == "tick "
    assert engine.stats()["busy_slots"] == 1
    await stream.aclose()  # type: ignore[attr-defined]
    assert engine.stats()["busy_slots"] == 0
    assert await asyncio.to_thread(fake.disconnected.wait, 2.0)


async def test_cancelled_consumer_closes_upstream_request(
    engine: UpstreamEngine, fake: UpstreamState
) -> None:
    async def consume() -> None:
        async for _ in engine.stream("endless", req()):
            pass

    task = asyncio.create_task(consume())
    assert await asyncio.to_thread(fake.streaming.wait, 2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.stats()["busy_slots"] == 0
    assert await asyncio.to_thread(fake.disconnected.wait, 2.0)


# -- errors ---------------------------------------------------------------------------------------


async def test_upstream_dies_mid_stream(engine: UpstreamEngine) -> None:
    got: list[str] = []
    with pytest.raises(UpstreamFailure, match="lost mid-answer") as info:
        async for chunk in engine.stream("dies", req()):
            got.append(chunk.content)
    assert got == ["partial "]
    assert info.value.status == 502


async def test_stream_without_finish_is_a_failure(engine: UpstreamEngine) -> None:
    with pytest.raises(UpstreamFailure, match="before finishing"):
        await collect(engine, "truncated", req())


async def test_error_event_mid_stream(engine: UpstreamEngine) -> None:
    with pytest.raises(UpstreamFailure, match="the engine crashed"):
        await collect(engine, "error-event", req())


@pytest.mark.parametrize(
    ("model", "exc_type", "status", "text"),
    [
        ("too-long", ContextLengthExceeded, 400, "exceeds the available context size"),
        ("bad-param", InvalidRequest, 422, "temperature is bad"),
        ("nope", ModelNotFound, 404, "`nope` does not exist"),
        ("broken", UpstreamFailure, 502, "failed (HTTP 500): kaboom"),
        ("gateway", UpstreamFailure, 502, "Bad Gateway"),
        ("busy", Overloaded, 503, "busy: slots full"),
    ],
)
async def test_upstream_http_errors_are_mapped(
    engine: UpstreamEngine, model: str, exc_type: type[ChatbotError], status: int, text: str
) -> None:
    with pytest.raises(exc_type, match=re.escape(text)) as info:
        await collect(engine, model, req())
    assert info.value.status == status
    envelope = info.value.envelope()["error"]
    assert text.split("`")[0] in envelope["message"]
    if isinstance(info.value, Overloaded):
        assert info.value.retry_after == 7
    assert engine.stats()["busy_slots"] == 0


async def test_wrong_upstream_key_is_a_server_fault(fake: UpstreamState) -> None:
    eng = UpstreamEngine(fake.url, "wrong-key")
    await eng.start()
    try:
        assert eng.models == []
        with pytest.raises(UpstreamFailure, match="--upstream-key") as info:
            await collect(eng, "fake-a", req())
        assert info.value.status == 502
        assert "wrong-key" not in info.value.message
    finally:
        await eng.close()


async def test_read_timeout_is_504(engine: UpstreamEngine) -> None:
    with pytest.raises(UpstreamTimeout, match="did not answer in time") as info:
        await collect(engine, "hang", req())
    assert info.value.status == 504


# -- admission ------------------------------------------------------------------------------------


async def test_admission_queue_then_overloaded(engine: UpstreamEngine, fake: UpstreamState) -> None:
    # parallel=2, queue_size=1: two run, one waits, the fourth is refused with 503.
    running = [engine.stream("endless", req()) for _ in range(2)]
    for stream in running:
        await anext(stream)  # type: ignore[call-overload]
    waiter = asyncio.create_task(collect(engine, "fake-a", req("queued ok")))
    for _ in range(100):
        if engine.stats()["queue_depth"] == 1:
            break
        await asyncio.sleep(0.01)
    assert engine.stats() == {"busy_slots": 2, "queue_depth": 1, "slots": 2}
    with pytest.raises(Overloaded) as info:
        await collect(engine, "fake-a", req())
    assert info.value.status == 503 and info.value.retry_after >= 1
    await running[0].aclose()  # type: ignore[attr-defined]
    chunks = await asyncio.wait_for(waiter, 5)
    assert "".join(c.content for c in chunks) == "queued ok "
    await running[1].aclose()  # type: ignore[attr-defined]
    assert engine.stats() == {"busy_slots": 0, "queue_depth": 0, "slots": 2}


@pytest.mark.parametrize(
    ("status", "body", "exc_type", "status_out"),
    [
        (404, {"detail": "Not Found"}, UpstreamFailure, 502),  # wrong URL: not an OpenAI API
        (400, {"error": "model requires more memory"}, InvalidRequest, 400),  # Ollama's shape
        (403, None, UpstreamFailure, 502),
        (408, None, UpstreamTimeout, 504),
        (
            400,
            env_body("This model's maximum context length is 2048 tokens"),
            ContextLengthExceeded,
            400,
        ),
    ],
)
def test_http_error_mapping(status: int, body: Any, exc_type: type, status_out: int) -> None:
    exc = UpstreamEngine("http://up:1").http_error(status, body)
    assert type(exc) is exc_type and exc.status == status_out


def test_stream_error_events() -> None:
    eng = UpstreamEngine("http://up:1")
    # llama-server puts the HTTP status in `code`
    llama = {"error": {"code": 400, "message": "bad", "type": "invalid_request_error"}}
    assert type(eng.stream_error(llama)) is InvalidRequest
    ours = {"error": {"message": "boom", "type": "server_error", "code": "engine_error"}}
    assert type(eng.stream_error(ours)) is UpstreamFailure
    assert "boom" in eng.stream_error(ours).message


def test_an_upstream_model_is_trained_for_tools_when_its_own_card_says_so() -> None:
    from chatbot_cli.engine.upstream import _model_info

    assert _model_info({"id": "a", "capabilities": ["tools"]}).tool_template
    assert _model_info({"id": "b", "supported_parameters": ["tools", "seed"]}).tool_template
    assert not _model_info({"id": "c", "capabilities": ["response_format"]}).tool_template
    assert not _model_info({"id": "d"}).tool_template
