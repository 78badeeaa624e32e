"""Overload at the HTTP level: a simultaneous burst of streaming requests larger than
`--parallel` + `--queue-size` against a real server. Exactly slots + queue are accepted, the
excess gets a fast 503 with Retry-After, nothing hangs, and afterwards requests are served
normally. (tests/server/test_openai_lifecycle.py covers the sequential one-slot case.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import LiveServer
from tests.tinymodel import write_tiny_model

pytestmark = pytest.mark.e2e

PARALLEL, QUEUE, BURST = 2, 2, 12
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("overload")
    model = write_tiny_model(home / "long.gguf", context_length=16384)
    args = ["--parallel", str(PARALLEL), "--queue-size", str(QUEUE), "--n-ctx", "32768"]
    live = LiveServer(home=home, model=model, extra_args=args).start()
    yield live
    live.kill()


def busy(server: LiveServer) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics").text
    return {
        f.name.removeprefix("chatbot_engine_"): f.samples[0].value
        for f in text_string_to_metric_families(text)
        if f.name in ("chatbot_engine_busy_slots", "chatbot_engine_queue_depth")
    }


async def burst(server: LiveServer) -> list[tuple[int, float, httpx.Headers, bytes]]:
    """Fires BURST long streaming requests at once and holds the accepted ones open until every
    answer is in; returns (status, seconds to the response headers, headers, first bytes)."""
    release = asyncio.Event()
    answered: list[tuple[int, float, httpx.Headers, bytes]] = []
    payload = {
        "model": "default",
        "messages": [{"role": "user", "content": "go"}],
        "max_tokens": 8000,
        "stream": True,
    }
    limits = httpx.Limits(max_connections=BURST + 2)

    async def one(http: httpx.AsyncClient) -> None:
        began = time.monotonic()
        async with http.stream("POST", CHAT, json=payload) as response:
            elapsed = time.monotonic() - began
            first = b""
            if response.status_code != 200:
                first = await response.aread()
            answered.append((response.status_code, elapsed, response.headers, first))
            if len(answered) == BURST:
                release.set()
            await release.wait()  # leaving the block disconnects, which frees the slot

    async with httpx.AsyncClient(
        base_url=server.url, headers=server.headers, timeout=30, limits=limits
    ) as http:
        await asyncio.wait_for(asyncio.gather(*(one(http) for _ in range(BURST))), timeout=60)
    return answered


def test_burst_beyond_slots_and_queue(server: LiveServer) -> None:
    answered = asyncio.run(burst(server))
    statuses = sorted(status for status, *_ in answered)
    assert statuses == [200] * (PARALLEL + QUEUE) + [503] * (BURST - PARALLEL - QUEUE)
    for status, elapsed, headers, first in answered:
        if status == 503:
            assert elapsed < 2.0, "a refusal must not wait for a slot"
            assert int(headers["retry-after"]) >= 1
            assert headers["content-type"] == "application/json"
            assert httpx.Response(503, content=first).json()["error"]["code"] == "server_overloaded"
        else:
            assert headers["content-type"].startswith("text/event-stream")

    # The burst's streams are closed: the slots and the queue drain at once.
    deadline = time.monotonic() + 2.0
    while busy(server) != {"busy_slots": 0, "queue_depth": 0}:
        assert time.monotonic() < deadline, busy(server)
        time.sleep(0.02)
    ok = httpx.post(
        server.url + CHAT,
        json={"model": "default", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
        headers=server.headers,
        timeout=30,
    )
    assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 3
