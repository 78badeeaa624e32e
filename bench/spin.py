"""Figure 1's spin rows: what the engine's short OpenMP spin costs on idle cores and saves on
busy ones, against libgomp's default.

llama.cpp's threads meet at an OpenMP barrier between a graph's operations and between tokens;
libgomp spins there before sleeping in the kernel, long by default, and the engine loads it
with a short spin (chatbot_cli/engine/openmp.py). On idle cores the long spin saves a sleep and
a wake at most barriers, which is most of figure 1's gap to llama.cpp at its defaults; on busy
cores a spinning thread burns the time slice its partner needs. So this figure runs our engine
(our settings, `build_engine`, the same greedy prompt) twice, each in a process of its own, one
loading libgomp with our spin and one with libgomp's default, alternating, under three loads:
nothing else running, one busy-loop process, one busy loop per CPU. Each row is our spin's
tok/s over the default spin's, the median of the rounds' pairs: above 1 is what the short spin
saves, below 1 what it costs. Each side also reports llama.cpp's threads' voluntary context
switches a token: the sleeps the spin is about.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import Context, Row, StreamResult, median, prompt
from bench.llama_defaults import ChildStreams

Answer = tuple[StreamResult, int]


def voluntary_switches() -> int:
    """Voluntary context switches so far of this process's threads that Python did not start:
    llama.cpp's task loop and OpenMP threads (Linux /proc)."""
    python = {t.native_id for t in threading.enumerate()}
    total = 0
    for status in Path("/proc/self/task").glob("*/status"):
        if int(status.parent.name) in python:
            continue
        with contextlib.suppress(OSError):  # a thread that ended since the listing
            for line in status.read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def _child(conn: Any, model: str, parallel: int, threads: int, ours: bool) -> None:
    """One engine at one spin: libgomp reads the spin once, when `xllamacpp` loads it."""
    from chatbot_cli.engine.openmp import SPIN_COUNT, VAR

    if ours:
        os.environ[VAR] = SPIN_COUNT
    else:
        os.environ.pop(VAR, None)
        import xllamacpp  # noqa: F401  # loaded here, before the engine could set our spin
    asyncio.run(_serve(conn, model, parallel, threads))


async def _serve(conn: Any, model: str, parallel: int, threads: int) -> None:
    from bench.streaming import engine_once
    from chatbot_cli.config import load_settings
    from chatbot_cli.engine.registry import build_engine

    engine = build_engine(load_settings(model=model, parallel=parallel, threads=threads))
    await engine.start()
    try:
        conn.send("ready")
        while (request := await asyncio.to_thread(conn.recv)) is not None:
            before = voluntary_switches()
            result = await engine_once(engine, *request)
            conn.send((result, voluntary_switches() - before))
    finally:
        await engine.close()


def _busy() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """`n` processes that keep a core busy each: the other work of a machine in use."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_busy, daemon=True) for _ in range(n)]
    for proc in procs:
        proc.start()
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.join()


def loads() -> list[int]:
    """Busy loops beside the engine: none, one, one per CPU."""
    return sorted({0, 1, os.cpu_count() or 1})


async def _measure(
    ctx: Context, sides: dict[str, ChildStreams], busy: int, reps: int
) -> dict[str, list[Answer]]:
    runs: dict[str, list[Answer]] = {name: [] for name in sides}
    text = prompt(1)
    with busy_loops(busy):
        for i in range(reps):
            names = list(sides) if i % 2 == 0 else list(sides)[::-1]
            for name in names:
                runs[name].append(await sides[name].ask(text, ctx.max_tokens))
            done = ", ".join(f"{n} {runs[n][-1][0].tok_s:.1f}" for n in sides)
            ctx.log(f"  {busy} busy: round {i + 1}: {done}")
    return runs


def row(busy: int, runs: dict[str, list[Answer]]) -> Row:
    ours, default = runs["ours"], runs["default"]
    pairs = [a.tok_s / b.tok_s for (a, _), (b, _) in zip(ours, default, strict=True)]
    per_token = {
        name: median(switches / max(result.tokens, 1) for result, switches in answers)
        for name, answers in runs.items()
    }
    load = {0: "idle cores", 1: "one core busy"}.get(busy, f"{busy} cores busy")
    return Row(
        f"1. spin, {load}: ours vs libgomp's default",
        f"{median(a.tok_s for a, _ in ours):.1f} tok/s",
        f"default spin {median(b.tok_s for b, _ in default):.1f} tok/s",
        median(pairs),
        "—",
        None,
        f"{len(pairs)} alternating rounds, our engine each side, {busy} busy-loop processes; "
        f"ratio of each round's pair: median {median(pairs):.2f}, best {max(pairs):.2f}, "
        f"worst {min(pairs):.2f}; llama.cpp's threads' voluntary context switches a token: ours "
        f"{per_token['ours']:.0f}, default {per_token['default']:.0f}",
    )


def run(ctx: Context) -> list[Row]:
    reps = {0: 2, 1: 2} if ctx.quick else {0: 8, 1: 4}
    args = (str(ctx.model), ctx.parallel, ctx.threads)
    sides = {
        "ours": ChildStreams("our engine at our spin", _child, *args, True),
        "default": ChildStreams("our engine at libgomp's spin", _child, *args, False),
    }
    ctx.log(f"figure 1, spin: our engine at our spin and at libgomp's, under {loads()} busy loops")
    rows: list[Row] = []
    try:
        for side in sides.values():
            side.start()
            asyncio.run(side.ask(prompt(1), ctx.max_tokens))  # warm-up, as figure 1's sides
        for busy in loads():
            runs = asyncio.run(_measure(ctx, sides, busy, reps[min(busy, 1)]))
            rows.append(row(busy, runs))
    finally:
        for side in sides.values():
            side.close()
    return rows
