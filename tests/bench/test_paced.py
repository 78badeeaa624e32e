"""bench/paced.py's scripted llama.cpp server: xllamacpp's chunk shapes, `max_tokens` tokens, a
stop when the callback asks for it; and `chatbot serve` on it streams through the whole path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT
from bench.paced import PacedServer
from chatbot_cli.engine.models import embedded_model_path
from tests.live import LiveServer


def test_it_streams_max_tokens_then_the_finish_and_usage(monkeypatch: Any) -> None:
    monkeypatch.setenv("BENCH_PACE_MS", "0")
    chunks: list[dict[str, Any]] = []
    PacedServer(None).handle_chat_completions({"max_tokens": 5}, lambda c: chunks.append(c))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    texts = [c["choices"][0]["delta"].get("content") for c in chunks[1:6]]
    assert all(isinstance(t, str) and t for t in texts)
    assert chunks[6]["choices"][0]["finish_reason"] == "length"
    assert chunks[6]["timings"]["predicted_n"] == 5
    assert chunks[7]["choices"] == [] and chunks[7]["usage"]["completion_tokens"] == 5
    assert len(chunks) == 8


def test_it_stops_when_the_callback_says_so(monkeypatch: Any) -> None:
    monkeypatch.setenv("BENCH_PACE_MS", "0")
    chunks: list[dict[str, Any]] = []

    def callback(chunk: dict[str, Any]) -> bool:
        chunks.append(chunk)
        return len(chunks) == 3

    PacedServer(None).handle_chat_completions({"max_tokens": 100}, callback)
    assert len(chunks) == 3


def test_chatbot_serve_on_it_streams_every_token(tmp_path: Path) -> None:
    path = os.pathsep.join([str(ROOT), str(ROOT / "bench")])
    server = LiveServer(
        home=tmp_path,
        model=embedded_model_path(),
        extra_args=["--parallel", "1"],
        extra_env={"PYTHONPATH": path, "BENCH_PACE_MS": "1"},
        module="paced",
    ).start(timeout=120)
    try:
        body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
        body |= {"max_tokens": 40, "stream": True}
        with httpx.stream(
            "POST", server.url + "/v1/chat/completions", json=body, headers=server.headers
        ) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data")]
        assert lines[-1] == "data:[DONE]"
        # The role chunk, 40 tokens (each its own event, held or not), the finish chunk.
        assert len(lines) == 1 + 40 + 1 + 1
    finally:
        server.stop()
