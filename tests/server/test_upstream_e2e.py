"""The upstream engine end to end: a real `chatbot serve` with the tiny model is the upstream.

Two fronts are used. `front` runs the whole app (`create_app`) on uvicorn in a thread, with an
UpstreamEngine built directly and handed to it. The last tests run the
front as `chatbot serve --engine openai --upstream-url URL`, the way users do.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chatbot_cli.config import load_settings
from chatbot_cli.engine.upstream import UpstreamEngine
from chatbot_cli.server.app import create_app
from tests.live import LiveServer, free_port
from tests.scripted_upstream import serve_app
from tests.tinymodel import write_tiny_model

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("migrated_database")]

FRONT_KEY = "sk-front-key-0123456789"
FRONT = {"Authorization": f"Bearer {FRONT_KEY}"}
# The tiny model always runs to max_tokens: thousands of tokens take seconds, so a generation that
# was cancelled is easy to tell from one that ran to its end. One slot gets the whole context.
LONG = 6000
UPSTREAM_ARGS = ["--n-ctx", "8192", "--parallel", "1"]


@pytest.fixture(scope="module")
def long_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.gguf", context_length=8192)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory, long_model: Path) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("upstream")
    server = LiveServer(home=home, model=long_model, extra_args=UPSTREAM_ARGS)
    server.start()
    yield server
    server.kill()


def make_front(url: str, key: str | None, **settings: Any) -> FastAPI:
    front = load_settings(api_key=FRONT_KEY, engine="openai", upstream_url=url, **settings)
    return create_app(front, engine=UpstreamEngine(url, key, parallel=2, queue_size=2))


def run_front(url: str, key: str | None) -> AbstractContextManager[str]:
    return serve_app(make_front(url, key))


@pytest.fixture
def front(upstream: LiveServer) -> Iterator[str]:
    with run_front(upstream.url, upstream.api_key) as url:
        yield url


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "default", "messages": [{"role": "user", "content": "hello"}], **kw}


def sse_events(text: str) -> list[Any]:
    out: list[Any] = []
    for line in text.split("\n"):
        if line.startswith("data:"):
            data = line[5:].strip()
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def metric(base_url: str, name: str, **labels: str) -> float:
    text = httpx.get(base_url + "/metrics", timeout=5).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
            if got == wanted:
                return float(m.group(3))
    return 0.0


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


# -- through the in-process front -----------------------------------------------------------------


def test_models_come_from_upstream(front: str, upstream: LiveServer) -> None:
    ours = httpx.get(front + "/v1/models", headers=FRONT, timeout=10).json()
    theirs = httpx.get(upstream.url + "/v1/models", headers=upstream.headers, timeout=10).json()
    assert [m["id"] for m in ours["data"]] == [m["id"] for m in theirs["data"]] != []


def test_same_seed_same_text_as_upstream_streaming_and_not(
    front: str, upstream: LiveServer
) -> None:
    """Seed, temperature and max_tokens reach the upstream: its own answer and ours match."""
    params = body(max_tokens=12, temperature=1.0, seed=7)
    direct = httpx.post(
        upstream.url + "/v1/chat/completions", json=params, headers=upstream.headers, timeout=30
    ).json()
    expected = direct["choices"][0]["message"]["content"]
    assert expected

    r = httpx.post(front + "/v1/chat/completions", json=params, headers=FRONT, timeout=30)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["choices"][0]["message"]["content"] == expected
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"] == direct["usage"]

    stream = body(max_tokens=12, temperature=1.0, seed=7, stream=True)
    stream["stream_options"] = {"include_usage": True}
    r = httpx.post(front + "/v1/chat/completions", json=stream, headers=FRONT, timeout=30)
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == expected
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 1
    assert chunks[-1]["usage"] == direct["usage"]
    assert r.headers["x-request-id"]


def test_stop_and_n_pass_through(front: str, upstream: LiveServer) -> None:
    params = body(max_tokens=24, temperature=1.0, seed=3)
    direct = httpx.post(
        upstream.url + "/v1/chat/completions", json=params, headers=upstream.headers, timeout=30
    ).json()["choices"][0]["message"]["content"]
    stop = direct[len(direct) // 2 : len(direct) // 2 + 3]
    r = httpx.post(
        front + "/v1/chat/completions", json={**params, "stop": [stop]}, headers=FRONT, timeout=30
    )
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == direct[: direct.index(stop)]

    # Two generations can outlast httpx's default 5 s on a loaded machine, as the others here.
    r = httpx.post(
        front + "/v1/chat/completions", json=body(n=2, max_tokens=4), headers=FRONT, timeout=30
    )
    assert [c["index"] for c in r.json()["choices"]] == [0, 1]


def test_upstream_client_errors_pass_through(front: str) -> None:
    too_long = body(messages=[{"role": "user", "content": "hello world " * 3000}])
    r = httpx.post(front + "/v1/chat/completions", json=too_long, headers=FRONT, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "context_length_exceeded"

    r = httpx.post(front + "/v1/chat/completions", json=body(model="nope"), headers=FRONT)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"

    r = httpx.post(front + "/v1/chat/completions", json=body(), headers={"Authorization": "x"})
    assert r.status_code == 401  # our own auth still applies


def test_client_disconnect_frees_upstream_slot(front: str, upstream: LiveServer) -> None:
    cancelled = metric(
        upstream.url, "chatbot_chat_completions_total", outcome="cancelled", stream="true"
    )
    with httpx.stream(
        "POST",
        front + "/v1/chat/completions",
        json=body(max_tokens=LONG, stream=True),
        headers=FRONT,
        timeout=30,
    ) as r:
        lines = r.iter_lines()
        assert any('"content":"' in line and '"content":""' not in line for line in lines)
        assert metric(upstream.url, "chatbot_engine_busy_slots") == 1
    # Only the front saw the client go; the upstream must hear of it through our closed request.
    assert wait_for(lambda: metric(upstream.url, "chatbot_engine_busy_slots") == 0, 1.0)
    assert wait_for(
        lambda: (
            metric(
                upstream.url, "chatbot_chat_completions_total", outcome="cancelled", stream="true"
            )
            == cancelled + 1
        ),
        2.0,
    )


def test_upstream_killed_unreachable_then_wrong_key(
    start_server: Callable[..., LiveServer], long_model: Path
) -> None:
    upstream = start_server(model=long_model, extra_args=UPSTREAM_ARGS)
    with run_front(upstream.url, upstream.api_key) as front:
        # Killed mid-stream: the client gets what was generated, an error event, then [DONE].
        with httpx.stream(
            "POST",
            front + "/v1/chat/completions",
            json=body(max_tokens=LONG, stream=True),
            headers=FRONT,
            timeout=30,
        ) as r:
            assert r.status_code == 200
            lines = r.iter_lines()
            assert any('"content":"' in line for line in lines)
            upstream.kill()
            rest = sse_events("\n".join(lines))
        assert rest[-1] == "[DONE]"
        errors = [e for e in rest if isinstance(e, dict) and "error" in e]
        assert len(errors) == 1 and errors[0]["error"]["code"] == "upstream_error"

        # Down: a clear 502 envelope, not a 500 or a hang.
        r = httpx.post(front + "/v1/chat/completions", json=body(), headers=FRONT, timeout=30)
        assert r.status_code == 502, r.text
        assert r.json()["error"]["code"] == "upstream_error"
        assert "Cannot reach the upstream server" in r.json()["error"]["message"]

        # Back on the same port with another key: our key is now wrong, a server-side fault.
        upstream.api_key = "sk-rotated-key-9876543210"
        upstream.start()
        r = httpx.post(front + "/v1/chat/completions", json=body(), headers=FRONT, timeout=30)
        assert r.status_code == 502, r.text
        assert "--upstream-key" in r.json()["error"]["message"]
        r = httpx.post(front + "/v1/chat/completions", json=body(stream=True), headers=FRONT)
        assert r.status_code == 502


def test_upstream_down_at_start_is_502_not_404() -> None:
    """Needs serving.py to skip its find_model pre-check when the engine lists no models."""
    with run_front(f"http://127.0.0.1:{free_port()}", None) as front:
        assert httpx.get(front + "/v1/models", headers=FRONT).json()["data"] == []
        r = httpx.post(front + "/v1/chat/completions", json=body(), headers=FRONT, timeout=30)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "upstream_error"


# -- through `chatbot serve --engine openai` (needs the registry wiring) ---------------------------


def test_chatbot_serve_engine_openai(
    start_server: Callable[..., LiveServer], upstream: LiveServer
) -> None:
    front = start_server(
        model=None,
        extra_args=[
            "--engine",
            "openai",
            "--upstream-url",
            upstream.url + "/v1",
            "--upstream-key",
            upstream.api_key,
        ],
    )
    from openai import OpenAI

    sdk = OpenAI(base_url=front.url + "/v1", api_key=front.api_key, max_retries=0)
    assert [m.id for m in sdk.models.list().data] == ["tiny"]
    params: dict[str, Any] = {"model": "default", "max_tokens": 8, "seed": 5, "temperature": 1}
    messages: Any = [{"role": "user", "content": "hi"}]
    full = sdk.chat.completions.create(messages=messages, **params)
    parts = [
        c.choices[0].delta.content or ""
        for c in sdk.chat.completions.create(messages=messages, stream=True, **params)
        if c.choices
    ]
    assert "".join(parts) == full.choices[0].message.content != ""
    assert full.usage is not None and full.usage.completion_tokens == 8
    assert metric(front.url, "chatbot_engine_slots") >= 1

    # The CLI talks to the front exactly as to a local server.
    out = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "chat", "--max-tokens", "4", "hello"],
        env=front.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def test_chatbot_serve_engine_openai_needs_url(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "serve", "--engine", "openai", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "--upstream-url" in out.stderr and "Traceback" not in out.stderr


def test_tools_pass_through_to_the_upstream_and_calls_come_back(front: str) -> None:
    """The front sends tools on as they are; the upstream (our server on the tiny model) makes
    the calls, and the front relays them whole and streamed."""
    tool = {
        "type": "function",
        "function": {
            "name": "set_done",
            "parameters": {
                "type": "object",
                "properties": {"done": {"type": "boolean"}},
                "required": ["done"],
                "additionalProperties": False,
            },
        },
    }
    payload = body(tools=[tool], tool_choice="required", parallel_tool_calls=False, seed=4,
                   max_tokens=400)  # fmt: skip
    r = httpx.post(f"{front}/v1/chat/completions", json=payload, headers=FRONT, timeout=60)
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "set_done" and call["id"].startswith("call_")
    assert isinstance(json.loads(call["function"]["arguments"])["done"], bool)

    r = httpx.post(
        f"{front}/v1/chat/completions", json={**payload, "stream": True}, headers=FRONT, timeout=60
    )
    events = [e for e in sse_events(r.text) if isinstance(e, dict)]
    deltas = [d for e in events for c in e["choices"] for d in c["delta"].get("tool_calls", [])]
    assert deltas[0]["function"]["name"] == "set_done" and deltas[0]["type"] == "function"
    arguments = "".join(d["function"]["arguments"] for d in deltas)
    assert arguments == call["function"]["arguments"]  # same seed, same call
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"

    bad = {**payload, "tool_choice": {"type": "function", "function": {"name": "nope"}}}
    r = httpx.post(f"{front}/v1/chat/completions", json=bad, headers=FRONT, timeout=60)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tool_choice.function.name"
