"""Figure 9: what constraining generation to the tool-call JSON schema costs per token.

The same conversation through our server, read with the openai SDK, in alternation: once with
`tools` and `tool_choice: "required"` (llama.cpp's grammar holds every token to the schema derived
from the tools, server/tools.py) and once without (free text). Each prompt is sent once before
the rounds, so the slots' prompt cache holds both and a round's time is nearly all decode: the
rate is completion tokens over the request's time. Each side's best round is compared.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import Context, Row, median, ratio

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "add_todo",
            "description": "Add a todo to the user's list",
            "parameters": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "priority": {"enum": ["low", "medium", "high"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["title", "priority", "tags"],
            },
        },
    }
]
ASK = "Add three todos: buy milk, call the plumber about the kitchen sink, renew my passport."


def _rate(client: Any, max_tokens: int, tools: bool) -> float:
    extra: dict[str, Any] = {"tools": TOOLS, "tool_choice": "required"} if tools else {}
    start = time.perf_counter()
    stream = client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": ASK}],
        max_tokens=max_tokens,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    )
    tokens = 0
    for chunk in stream:
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    elapsed = time.perf_counter() - start
    return tokens / elapsed if tokens and elapsed > 0 else float("nan")


def run(ctx: Context, url: str, api_key: str) -> list[Row]:
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key=api_key, max_retries=0)
    rounds = 2 if ctx.quick else 5
    # The tiny model spends a quick run's 32 tokens on whitespace before its first call.
    max_tokens = 128
    _rate(client, max_tokens, True)  # warm both paths' prompts into the cache
    _rate(client, max_tokens, False)
    constrained: list[float] = []
    free: list[float] = []
    for _ in range(rounds):
        constrained.append(_rate(client, max_tokens, True))
        free.append(_rate(client, max_tokens, False))
    ctx.log(f"tool calls: constrained {constrained}, free {free}")
    best_c, best_f = max(constrained), max(free)
    return [
        Row(
            "9. constrained tool-call decode",
            f"{best_c:.1f} tok/s (median {median(constrained):.1f})",
            f"{best_f:.1f} tok/s free text (median {median(free):.1f}), best of {rounds}",
            ratio(best_c, best_f),
        )
    ]
