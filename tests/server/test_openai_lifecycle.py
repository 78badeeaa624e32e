"""Cancellation, overload and shutdown against a real server with one slot and long generations."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import LiveServer
from tests.tinymodel import write_tiny_model

pytestmark = pytest.mark.e2e

# Long enough that an uncancelled generation would hold the slot for many seconds.
LONG = 8000
SLOW_ARGS = ["--parallel", "1", "--queue-size", "1", "--n-ctx", "16384"]


@pytest.fixture(scope="module")
def long_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("long") / "long.gguf", context_length=16384)


def start(home: Path, model: Path) -> LiveServer:
    home.mkdir(parents=True, exist_ok=True)
    return LiveServer(home=home, model=model, extra_args=list(SLOW_ARGS)).start()


@pytest.fixture(scope="module")
def slow(long_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start(tmp_path_factory.mktemp("slow"), long_model)
    yield live
    live.kill()


def gauges(server: LiveServer) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics").text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("chatbot_engine_"):
            out[family.name.removeprefix("chatbot_engine_")] = family.samples[0].value
    return out


def wait_idle(server: LiveServer, within: float) -> float:
    """Seconds until no slot is busy and nothing is queued; fails after `within`."""
    began = time.monotonic()
    while True:
        g = gauges(server)
        if g["busy_slots"] == 0 and g["queue_depth"] == 0:
            return time.monotonic() - began
        assert time.monotonic() - began < within, g
        time.sleep(0.02)


def payload(**kw: Any) -> dict[str, Any]:
    return {
        "model": "long",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": LONG,
        **kw,
    }


def test_stream_disconnect_frees_the_slot(slow: LiveServer) -> None:
    with (
        httpx.Client(headers=slow.headers, timeout=30) as client,
        client.stream(
            "POST", slow.url + "/v1/chat/completions", json=payload(stream=True)
        ) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        seen = 0
        for line in lines:
            if line.startswith("data: "):
                seen += 1
            if seen >= 5:
                break
        assert gauges(slow)["busy_slots"] == 1
    # The connection is closed here; the generation must stop, not run to 8000 tokens.
    assert wait_idle(slow, within=1.0) < 1.0


def test_non_stream_disconnect_frees_the_slot(slow: LiveServer) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            slow.url + "/v1/chat/completions",
            json=payload(),
            headers=slow.headers,
            timeout=httpx.Timeout(30, read=0.5),
        )
    assert wait_idle(slow, within=1.0) < 1.0


def test_overload_is_503_then_recovers(slow: LiveServer) -> None:
    url = slow.url + "/v1/chat/completions"
    with httpx.Client(headers=slow.headers, timeout=30) as client:
        with client.stream("POST", url, json=payload(stream=True)) as running:
            assert running.status_code == 200
            # The second waits in the queue: after the admission wait it streams pings.
            with client.stream("POST", url, json=payload(stream=True)) as queued:
                assert queued.status_code == 200
                assert gauges(slow) == {"busy_slots": 1, "queue_depth": 1, "slots": 1}
                refused = client.post(url, json=payload(max_tokens=3))
                assert refused.status_code == 503
                assert int(refused.headers["retry-after"]) >= 1
                assert refused.json()["error"]["code"] == "server_overloaded"
                refused_stream = client.post(url, json=payload(max_tokens=3, stream=True))
                assert refused_stream.status_code == 503
                assert "retry-after" in refused_stream.headers
        wait_idle(slow, within=1.0)
        ok = client.post(url, json=payload(max_tokens=3))
        assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 3


def test_sigterm_ends_open_streams_with_error_and_done(long_model: Path, tmp_path: Path) -> None:
    live = start(tmp_path / "term", long_model)
    try:
        data: list[str] = []
        with (
            httpx.Client(headers=live.headers, timeout=30) as client,
            client.stream(
                "POST", live.url + "/v1/chat/completions", json=payload(stream=True)
            ) as response,
        ):
            lines = response.iter_lines()
            for line in lines:
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                if len(data) >= 3:
                    break
            stopper = threading.Thread(target=live.stop)
            signalled = time.monotonic()
            stopper.start()
            for line in lines:
                if line.startswith("data:"):
                    data.append(line[5:].strip())
            ended = time.monotonic() - signalled
        stopper.join(30)
        assert data[-1] == "[DONE]"
        assert json.loads(data[-2])["error"]["type"] == "server_error"
        assert ended < 10  # within uvicorn's graceful timeout
        # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
        assert live.proc is not None and live.proc.returncode in (0, -signal.SIGTERM), live.log()
        assert "Application shutdown complete" in live.log()
    finally:
        live.kill()
