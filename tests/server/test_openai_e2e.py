"""/v1 end to end against a real `chatbot serve` with the tiny model: plain HTTP and httpx-sse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.live import LiveServer
from tests.server.conftest import SWAGGER_BODY

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(home=tmp_path_factory.mktemp("openai-e2e"), model=tiny_model).start()
    yield live
    live.kill()


def chat(server: LiveServer, **kw: Any) -> httpx.Response:
    payload = {"model": "default", "messages": [{"role": "user", "content": "hi"}], **kw}
    return httpx.post(
        server.url + "/v1/chat/completions", json=payload, headers=server.headers, timeout=60
    )


def stream_events(server: LiveServer, **kw: Any) -> list[str]:
    payload = {
        "model": "default",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        **kw,
    }
    with (
        httpx.Client(headers=server.headers, timeout=60) as client,
        connect_sse(client, "POST", server.url + "/v1/chat/completions", json=payload) as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["cache-control"] == "no-cache"
        assert source.response.headers["x-accel-buffering"] == "no"
        return [event.data for event in source.iter_sse()]


def test_stream_equals_non_stream_for_a_seed(server: LiveServer) -> None:
    params = {"max_tokens": 24, "seed": 42, "temperature": 0.8}
    whole = chat(server, **params)
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert body["model"] == "default" and body["object"] == "chat.completion"
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "length" and choice["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] == 24
    assert body["usage"]["total_tokens"] == 24 + body["usage"]["prompt_tokens"]

    events = stream_events(server, **params)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d["content"] for d in deltas) == choice["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert all("usage" not in c for c in chunks)


def test_include_usage_and_n(server: LiveServer) -> None:
    events = stream_events(
        server, max_tokens=5, n=2, seed=3, stream_options={"include_usage": True}
    )
    chunks = [json.loads(e) for e in events[:-1]]
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 10
    texts = {0: "", 1: ""}
    for chunk in chunks[:-1]:
        (choice,) = chunk["choices"]
        texts[choice["index"]] += choice["delta"]["content"]
    whole = chat(server, max_tokens=5, n=2, seed=3).json()
    assert [c["index"] for c in whole["choices"]] == [0, 1]
    assert [c["message"]["content"] for c in whole["choices"]] == [texts[0], texts[1]]
    assert whole["usage"]["completion_tokens"] == 10
    # Seeds seed and seed+1: the second choice is the single-choice answer for seed 4.
    single = chat(server, max_tokens=5, seed=4).json()
    assert single["choices"][0]["message"]["content"] == texts[1]


def test_stop_sequence(server: LiveServer) -> None:
    text = chat(server, max_tokens=30, seed=7).json()["choices"][0]["message"]["content"]
    stop = text[10:13]
    cut = text[: text.index(stop)]
    stopped = chat(server, max_tokens=30, seed=7, stop=[stop]).json()["choices"][0]
    assert stopped["message"]["content"] == cut
    assert stopped["finish_reason"] == "stop"


def test_models(server: LiveServer) -> None:
    listing = httpx.get(server.url + "/v1/models", headers=server.headers).json()
    assert listing["object"] == "list"
    (card,) = listing["data"]
    assert card["id"] == "tiny" and card["object"] == "model" and card["owned_by"]
    assert "/" not in card["id"]
    for name in ("tiny", "default"):
        one = httpx.get(server.url + f"/v1/models/{name}", headers=server.headers)
        assert one.status_code == 200 and one.json() == card
    missing = httpx.get(server.url + "/v1/models/nope", headers=server.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_seed_header_form_and_seed_body(server: LiveServer) -> None:
    r = httpx.post(
        server.url + "/v1/chat/completions",
        headers={"Authorization": f"bearer{server.api_key}"},
        json=SWAGGER_BODY,
    )
    # The seed's literal body names model "string": a clear 404, not a crash.
    assert r.status_code == 404 and r.json()["error"]["param"] == "model"
    ok = httpx.post(
        server.url + "/v1/chat/completions",
        headers={"Authorization": f"bearer{server.api_key}"},
        json={**SWAGGER_BODY, "model": "default"},
        timeout=180,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["usage"]["completion_tokens"] > 1  # 0 means "no limit", not one token


@pytest.mark.parametrize("stream", [False, True])
def test_error_envelopes(server: LiveServer, stream: bool) -> None:
    cases: list[tuple[dict[str, Any], int, str, str | None]] = [
        ({"model": "gpt-4"}, 404, "model_not_found", "model"),
        ({"messages": []}, 400, "invalid_request", "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, 400, "invalid_request", None),
        ({"temperature": 3}, 400, "invalid_request", "temperature"),
        ({"max_tokens": 10**6}, 400, "invalid_request", "max_tokens"),
        ({"n": 50}, 400, "invalid_request", "n"),
        (
            {"messages": [{"role": "user", "content": "hello world " * 3000}]},
            400,
            "context_length_exceeded",
            "messages",
        ),
    ]
    for patch, status, code, param in cases:
        r = chat(server, stream=stream, **patch)
        assert r.status_code == status, (patch, r.text)
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert "detail" not in body
        assert body["error"]["code"] == code, patch
        if param is not None:
            assert body["error"]["param"] == param, patch
    bad = httpx.post(
        server.url + "/v1/chat/completions",
        content=b"{oops",
        headers={**server.headers, "Content-Type": "application/json"},
    )
    assert bad.status_code == 400 and "detail" not in bad.json()
    plain = httpx.post(
        server.url + "/v1/chat/completions",
        content=b'{"model": "default"}',
        headers={**server.headers, "Content-Type": "text/plain"},
    )
    assert plain.status_code == 400 and "application/json" in plain.json()["error"]["message"]
