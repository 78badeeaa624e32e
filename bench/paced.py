"""`python -m bench.paced serve ...`: `chatbot serve` with xllamacpp's Server replaced by one that
answers every chat completion with `max_tokens` tokens paced by sleeping (`BENCH_PACE_MS`
apart, default 8.5: about SmolLM2's decode rate here), in chunk dicts shaped like xllamacpp's.
No decode CPU at all, so the server's own CPU per streamed token (event loop, worker thread)
can be measured by bench/stream_cpu.py without llama.cpp's threads in the way."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

WORDS = [" the", " lighthouse", " keeper", " walked", ",", " and", ' "hello"', " sea", ".", "\n"]


class PacedServer:
    def __init__(self, _params: Any) -> None:
        self.pace = float(os.environ.get("BENCH_PACE_MS", "8.5")) / 1000

    def handle_metrics(self) -> dict[str, Any]:
        return {}

    def handle_chat_completions(
        self, body: dict[str, Any], callback: Callable[[dict[str, Any]], bool]
    ) -> None:
        n = body.get("max_tokens") or 16
        base = {"created": int(time.time()), "id": "chatcmpl-paced", "model": "paced"}
        base["object"] = "chat.completion.chunk"

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"finish_reason": finish, "index": 0, "delta": delta}]}

        if callback(chunk({"role": "assistant", "content": None})):
            return
        for i in range(n):
            time.sleep(self.pace)
            if callback(chunk({"content": WORDS[i % len(WORDS)]})):
                return
        done = chunk({}, "length")
        done["timings"] = {"cache_n": 0, "prompt_n": 8, "predicted_n": n}
        callback(done)
        usage = {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": n + 8}
        callback({**base, "choices": [], "usage": usage})


def main() -> None:
    import xllamacpp

    xllamacpp.Server = PacedServer
    from chatbot_cli.cli.entry import main as chatbot

    chatbot()


if __name__ == "__main__":
    main()
