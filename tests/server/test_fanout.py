"""The channel between the choice tasks and the response, and the write grouping it gives SSE
streams (checked on the ASGI messages the app sends, one message per socket write)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from chatbot_cli.server.fanout import Channel
from tests.server.test_openai_serving import HEADERS, ScriptedEngine, body, make_app

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("migrated_database")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_take_returns_everything_queued_in_order() -> None:
    channel = Channel()
    for i in range(3):
        channel.put((0, i))
    assert await channel.take() == [(0, 0), (0, 1), (0, 2)]
    channel.put((1, "x"))
    assert await channel.take() == [(1, "x")]


async def test_a_waiting_take_wakes_on_put() -> None:
    channel = Channel()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, channel.put, (0, "a"))
    assert await asyncio.wait_for(channel.take(), 2) == [(0, "a")]


async def test_items_are_held_until_not_before() -> None:
    channel = Channel()
    loop = asyncio.get_running_loop()
    channel.put((0, "a"))
    loop.call_later(0.02, channel.put, (0, "b"))
    start = loop.time()
    batch = await channel.take(start + 0.1)
    assert loop.time() - start >= 0.09
    assert batch == [(0, "a"), (0, "b")]


async def test_an_item_arriving_while_held_arms_the_deadline() -> None:
    channel = Channel()
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, channel.put, (0, "a"))
    start = loop.time()
    assert await channel.take(start + 0.1) == [(0, "a")]
    assert loop.time() - start >= 0.09


async def test_an_urgent_item_releases_the_batch_at_once() -> None:
    channel = Channel()
    loop = asyncio.get_running_loop()
    channel.put((0, "a"))
    loop.call_later(0.01, channel.put, (0, "end"), True)
    start = loop.time()
    batch = await channel.take(start + 30)
    assert loop.time() - start < 5
    assert batch == [(0, "a"), (0, "end")]


async def test_a_cancelled_take_keeps_the_items_and_leaves_no_timer() -> None:
    channel = Channel()
    loop = asyncio.get_running_loop()
    channel.put((0, "a"))
    task = asyncio.create_task(channel.take(loop.time() + 30))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert channel._timer is None and channel._waiter is None
    assert await channel.take() == [(0, "a")]


async def _sse_writes(flush_ms: int, engine: ScriptedEngine) -> list[tuple[float, bytes]]:
    """Run one streaming request through the ASGI app; return (time, body) of every write."""
    app = make_app(engine, stream_flush_ms=flush_ms)
    payload = json.dumps(body(stream=True)).encode()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in HEADERS.items()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent_body = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await never.wait()
        return {"type": "http.disconnect"}

    writes: list[tuple[float, bytes]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            writes.append((time.perf_counter(), message["body"]))

    async with app.router.lifespan_context(app):
        await asyncio.wait_for(app(scope, receive, send), 30)
    return writes


def _contents(writes: list[tuple[float, bytes]]) -> list[list[str | None]]:
    out = []
    for _, data in writes:
        events = [e for e in data.decode().split("\n\n") if e.startswith("data: {")]
        out.append([json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events])
    return out


async def test_tokens_arriving_within_the_flush_interval_share_a_write() -> None:
    words = [f"w{i} " for i in range(12)]
    writes = await _sse_writes(200, ScriptedEngine(words, delay=0.02))
    contents = _contents(writes)
    # The role chunk, then the first token alone and at once; the rest grouped.
    assert contents[0] == [""] and contents[1] == ["w0 "]
    tokens = [c for group in contents for c in group if c]
    assert tokens == words
    assert len(writes) <= 6, contents
    assert any(len(group) > 2 for group in contents)
    # Each token is still its own SSE event; the last one, the finish chunk and [DONE] share
    # the last write.
    assert contents[-1][-2:] == ["w11 ", ""]
    assert writes[-1][1].endswith(b"data:[DONE]\n\n")


async def test_tokens_slower_than_half_the_interval_are_not_held() -> None:
    words = [f"w{i} " for i in range(5)]
    writes = await _sse_writes(200, ScriptedEngine(words, delay=0.12))
    groups = [[c for c in group if c] for group in _contents(writes)]
    assert [group for group in groups if group] == [[w] for w in words]
    # Each token went out as it came, not at the next 200 ms mark.
    gaps = [b[0] - a[0] for a, b in zip(writes[1:], writes[2:], strict=False)]
    assert max(gaps) < 0.19, gaps


async def test_the_end_of_a_stream_is_not_held() -> None:
    start = time.perf_counter()
    writes = await _sse_writes(1000, ScriptedEngine(["a", "b", "c"], delay=0.01))
    assert time.perf_counter() - start < 0.8
    assert [c for group in _contents(writes) for c in group if c] == ["a", "b", "c"]


async def test_flush_interval_zero_writes_every_token_at_once() -> None:
    words = [f"w{i} " for i in range(6)]
    writes = await _sse_writes(0, ScriptedEngine(words, delay=0.01))
    contents = _contents(writes)
    assert [[c for c in group if c] for group in contents if any(group)] == [[w] for w in words]
