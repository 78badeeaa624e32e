"""Figure 2: 1, 2, 4 and 8 concurrent streaming clients against our server and the references.

All servers run at once (an idle one costs no CPU) and take turns level by level. Every level
of every round uses prompts no other used (so no prompt-cache hits), every server gets the same
prompts, read with the same `openai.AsyncOpenAI` client code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench.common import (
    Context,
    Row,
    StreamResult,
    Timer,
    ms,
    openai_client,
    prompt,
    ratio,
    stream_once,
)

LEVELS = (1, 2, 4, 8)
TOKS_TARGET = 0.97
TTFT_TARGET = 0.15
WARMUP_PROMPT = 17


@dataclass
class Level:
    clients: int
    wall: float
    streams: list[StreamResult]
    max_tokens: int
    # Across every round at this level, not just the one that stands for it.
    all_short: int = 0
    all_streams: int = 0

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.streams)

    @property
    def tok_s(self) -> float:
        return self.tokens / self.wall if self.wall > 0 else float("nan")

    @property
    def mean_ttft(self) -> float:
        return sum(s.ttft for s in self.streams) / len(self.streams)

    @property
    def max_ttft(self) -> float:
        return max(s.ttft for s in self.streams)

    @property
    def short(self) -> int:
        return sum(s.short(self.max_tokens) for s in self.streams)


Servers = dict[str, tuple[str, str]]  # name -> (base url, api key)


async def _level(url: str, key: str, n: int, first_prompt: int, max_tokens: int) -> Level:
    client = openai_client(url + "/v1", key, n)
    async with client:
        timer = Timer()
        streams = await asyncio.gather(
            *(
                stream_once(client, "default", prompt(first_prompt + i), max_tokens)
                for i in range(n)
            )
        )
        return Level(n, timer.elapsed(), list(streams), max_tokens)


async def _all(ctx: Context, servers: Servers, rounds: int) -> dict[str, dict[int, Level]]:
    max_tokens = ctx.max_tokens
    names = list(servers)
    for url, key in servers.values():  # llama.cpp's first request pays a slow warm-up
        await _level(url, key, 1, WARMUP_PROMPT, max_tokens)
    runs: dict[str, dict[int, list[Level]]] = {name: {n: [] for n in LEVELS} for name in names}
    first_prompt = 100
    for r in range(rounds):
        for n in LEVELS:
            # Every server gets the same fresh prompts; the order rotates each round so that
            # load from elsewhere on the machine does not always hit the same server.
            for k in range(len(names)):
                name = names[(k + r) % len(names)]
                url, key = servers[name]
                level = await _level(url, key, n, first_prompt, max_tokens)
                runs[name][n].append(level)
                ctx.log(
                    f"  round {r + 1}, {name}, {n} clients: {level.tok_s:.1f} tok/s, "
                    f"max TTFT {ms(level.max_ttft)}"
                )
            first_prompt += n
    # The best round stands for each server and level: load from elsewhere on the machine only
    # ever slows a round down, so the fastest one is the closest to what the server can do.
    out: dict[str, dict[int, Level]] = {}
    for name, levels in runs.items():
        out[name] = {}
        for n, lvs in levels.items():
            chosen = max(lvs, key=lambda x: x.tok_s)
            chosen.all_short = sum(lv.short for lv in lvs)
            chosen.all_streams = sum(len(lv.streams) for lv in lvs)
            out[name][n] = chosen
    return out


def measure(ctx: Context, servers: Servers) -> dict[str, dict[int, Level]]:
    # Within one run a level's rounds spread by up to 25% (139-185 tok/s at 8 clients, same
    # server): five rounds make the best one less a matter of luck than three.
    rounds = 1 if ctx.quick else 5
    ctx.log(
        f"figure 2: {', '.join(servers)}; {'/'.join(map(str, LEVELS))} clients, "
        f"{rounds} round(s), interleaved"
    )
    return asyncio.run(_all(ctx, servers, rounds))


def detail(runs: dict[str, dict[int, Level]]) -> str:
    """Every level of every server, for the notes under the main table."""
    lines = [
        "| server | clients | aggregate tok/s | mean TTFT | max TTFT | short/empty |",
        "|---|---|---|---|---|---|",
    ]
    for name, levels in runs.items():
        for n, lv in levels.items():
            lines.append(
                f"| {name} | {n} | {lv.tok_s:.1f} | {ms(lv.mean_ttft)} | {ms(lv.max_ttft)} "
                f"| {lv.all_short}/{lv.all_streams} |"
            )
    return "\n".join(lines)


def rows(
    ours: dict[int, Level], llama: dict[int, Level], peer: dict[int, Level] | None, peer_note: str
) -> list[Row]:
    out: list[Row] = []
    for n in LEVELS:
        r = ratio(ours[n].tok_s, llama[n].tok_s)
        checked = n in (1, 8)
        out.append(
            Row(
                f"2. {n} client{'s' if n > 1 else ''}: aggregate tok/s",
                f"{ours[n].tok_s:.1f} tok/s",
                f"llama.cpp server {llama[n].tok_s:.1f}",
                r,
                f"ratio ≥ {TOKS_TARGET}" if checked else "—",
                r >= TOKS_TARGET if checked else None,
            )
        )
    top = max(LEVELS)
    mine = ours[top].max_ttft
    if peer is not None:
        r = ratio(mine, peer[top].max_ttft)
        out.append(
            Row(
                f"2. {top} clients: max TTFT",
                ms(mine),
                f"llama-cpp-python {ms(peer[top].max_ttft)}",
                r,
                f"ratio ≤ {TTFT_TARGET}",
                r <= TTFT_TARGET,
            )
        )
    else:
        out.append(
            Row(
                f"2. {top} clients: max TTFT",
                ms(mine),
                f"llama.cpp server {ms(llama[top].max_ttft)}",
                ratio(mine, llama[top].max_ttft),
                f"≤ {TTFT_TARGET}× llama-cpp-python",
                None,
                peer_note,
            )
        )
    short = sum(lv.all_short for lv in ours.values())
    total = sum(lv.all_streams for lv in ours.values())
    base = f"llama.cpp {sum(lv.all_short for lv in llama.values())}"
    if peer is not None:
        base += f", llama-cpp-python {sum(lv.all_short for lv in peer.values())}"
    out.append(Row("2. short or empty streams", f"{short} of {total}", base, None, "0", short == 0))
    return out
