"""Figure 1: what HTTP + SSE + the official SDK cost on top of the engine interface.

The same prompt, greedy, max_tokens each, through `Engine.stream` in this process and through a
`chatbot serve` process (same settings) read with `openai.AsyncOpenAI`, in alternation. Both
sides get one warm-up request with the same prompt first, so both see the same prompt cache;
each side's best run is compared, since load from elsewhere on the machine only slows runs down.

llama.cpp's own C++ server is read the same way in the same alternation: its ratio to the
in-process engine is what HTTP and the SDK client cost on this machine with no Python server at
all. On 2 cores the client's CPU comes out of the decode threads' share, so that cost grows as
the machine gets faster per token.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import (
    Context,
    Row,
    StreamResult,
    ms,
    openai_client,
    prompt,
    ratio,
    stream_once,
)

TOKS_TARGET = 0.97
TTFT_TARGET = 0.015


async def _engine_once(engine: object, text: str, max_tokens: int) -> StreamResult:
    from chatbot_cli.engine.base import GenerationRequest

    request = GenerationRequest(
        messages=[{"role": "user", "content": text}], max_tokens=max_tokens, temperature=0.0
    )
    start = time.perf_counter()
    first: float | None = None
    tokens = chars = 0
    finish: str | None = None
    async for chunk in engine.stream("default", request):  # type: ignore[attr-defined]
        if chunk.content:
            if first is None:
                first = time.perf_counter()
            tokens += 1
            chars += len(chunk.content)
        if chunk.finish_reason:
            finish = chunk.finish_reason
            tokens = chunk.completion_tokens or tokens
    end = time.perf_counter()
    return StreamResult((first or end) - start, end - start, tokens, finish, chars)


async def _side_by_side(
    ctx: Context, url: str, api_key: str, reps: int, ref_url: str | None
) -> tuple[list[StreamResult], list[StreamResult], list[StreamResult], list[StreamResult]]:
    from chatbot_cli.config import load_settings
    from chatbot_cli.engine.registry import build_engine

    settings = load_settings(model=str(ctx.model), parallel=ctx.parallel, threads=ctx.threads)
    engine = build_engine(settings)
    await engine.start()
    client = openai_client(url + "/v1", api_key, 1)
    ref = openai_client(ref_url + "/v1", "unused", 1) if ref_url else None
    text, n = prompt(0), ctx.max_tokens
    engine_runs: list[StreamResult] = []
    http_runs: list[StreamResult] = []
    ref_runs: list[StreamResult] = []
    stored_runs: list[StreamResult] = []

    async def engine_side() -> None:
        engine_runs.append(await _engine_once(engine, text, n))

    async def http_side() -> None:
        http_runs.append(await stream_once(client, "default", text, n))

    async def ref_side() -> None:
        if ref is not None:
            ref_runs.append(await stream_once(ref, "default", text, n))

    async def stored_side() -> None:
        # `store: true`: the same stream, written to the database after it ends.
        stored_runs.append(await stream_once(client, "default", text, n, {"store": True}))

    sides = [engine_side, http_side, ref_side, stored_side]
    try:
        async with client:
            # Warm-up: fills every prompt cache, so all sides start from the same state.
            for side in sides:
                await side()
            for runs in (engine_runs, http_runs, ref_runs, stored_runs):
                runs.clear()
            # Alternate (and rotate who goes first) so load from elsewhere on the machine hits
            # every side alike instead of skewing whichever ran during a busy spell.
            for i in range(reps):
                for side in sides[i % 4 :] + sides[: i % 4]:
                    await side()
    finally:
        await engine.close()
        if ref is not None:
            await ref.close()
    return engine_runs, http_runs, ref_runs, stored_runs


def rows(
    ctx: Context,
    engine_runs: list[StreamResult],
    http_runs: list[StreamResult],
    ref_runs: list[StreamResult] | None = None,
    stored_runs: list[StreamResult] | None = None,
) -> list[Row]:
    # Best of n on each side: load from elsewhere on the machine only ever slows a run down.
    e_tok, h_tok = max(r.tok_s for r in engine_runs), max(r.tok_s for r in http_runs)
    e_ttft, h_ttft = min(r.ttft for r in engine_runs), min(r.ttft for r in http_runs)
    tok_ratio = ratio(h_tok, e_tok)
    diff = h_ttft - e_ttft
    n = len(http_runs)
    context: list[Row] = []
    if stored_runs:
        s_tok = max(r.tok_s for r in stored_runs)
        s_ratio = ratio(s_tok, e_tok)
        context.append(
            Row(
                "1. streaming tok/s, store: true",
                f"{s_tok:.1f} tok/s",
                f"in-process {e_tok:.1f} tok/s",
                s_ratio,
                f"ratio ≥ {TOKS_TARGET}",
                s_ratio >= TOKS_TARGET,
                f"store: false gets {tok_ratio:.3f} in the same run",
            )
        )
    if ref_runs:
        r_tok = max(r.tok_s for r in ref_runs)
        context.append(
            Row(
                "1. llama.cpp server, HTTP SSE (openai SDK)",
                f"{r_tok:.1f} tok/s",
                f"in-process {e_tok:.1f} tok/s",
                ratio(r_tok, e_tok),
                "—",
                None,
            )
        )
    return [
        Row(
            "1. streaming tok/s, HTTP SSE (openai SDK)",
            f"{h_tok:.1f} tok/s",
            f"in-process {e_tok:.1f} tok/s",
            tok_ratio,
            f"ratio ≥ {TOKS_TARGET}",
            tok_ratio >= TOKS_TARGET,
            f"best of {n} each, alternating; {ctx.max_tokens} tokens greedy, one client",
        ),
        Row(
            "1. streaming TTFT, HTTP − in-process",
            f"{diff * 1000:+.1f} ms",
            f"in-process {ms(e_ttft)}, HTTP {ms(h_ttft)}",
            None,
            f"≤ {TTFT_TARGET * 1000:.0f} ms",
            diff <= TTFT_TARGET,
        ),
        *context,
    ]


def run(ctx: Context, url: str, api_key: str, ref_url: str | None = None) -> list[Row]:
    """In-process and HTTP runs alternate; `url` is a `chatbot serve` on the same settings,
    `ref_url` llama.cpp's own server on them."""
    reps = 3 if ctx.quick else 10
    ctx.log(f"figure 1: in-process engine vs HTTP, {reps} runs each, alternating")
    runs = asyncio.run(_side_by_side(ctx, url, api_key, reps, ref_url))
    return rows(ctx, *runs)
