"""Figure 10: what per-key accounting and limit checks cost (issue 17), and whether a limit holds
across replicas.

The same `chatbot serve` with and without them (bench/noquota.py takes them out), measured
alternately in one run: figure 1's measure (one SDK stream, tok/s) through the server's own key,
which is accounted but has no limits, through a key with (high) limits, which also pays the
admission transaction and the shared counters, and through a key with a concurrent limit,
which takes a generation lease and gives it back; and figure 4's measure (createTodo req/s, 16
connections), which the checks never touch. Because wall time on a shared machine moves by
more than 3% between rounds, the server's CPU time per short completion is measured too, each
side in turn. Then two replicas sharing PostgreSQL, four clients
on one key limited to 60 requests a minute for 10 s: the requests admitted against the limit.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, cast

from bench.common import Context, Row, median, openai_client, prompt, ratio, stream_once
from bench.todo_api import CREATE, combine, load

COST_TARGET = 0.97  # at most 3% slower
RPM = 60
REPLICA_SECONDS = 10.0
ADMIT_TOLERANCE = 0.05


def _start(
    ctx: Context, name: str, module: str, *, model: bool, env: dict[str, str] | None = None
) -> Any:
    from bench.common import isolated_env
    from tests.live import LiveServer

    home = ctx.work / name
    home.mkdir(parents=True, exist_ok=True)
    args = ["--parallel", str(ctx.parallel), "--threads", str(ctx.threads)]
    if not model:
        args += ["--engine", "none"]
    server = LiveServer(
        home=home,
        model=ctx.model if model else None,
        extra_args=args,
        extra_env={"PYTHONPATH": isolated_env(home)["PYTHONPATH"], **(env or {})},
        module=module,
    )
    ctx.log(f"starting {module} serve ({name})")
    return server.start(timeout=180)


def _cli(server: Any, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", *args],
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _limited_key(server: Any, name: str, *limits: str) -> str:
    key = _cli(server, "keys", "create", name)
    _cli(server, "keys", "limit", name, *limits)
    return key


def _spread(values: list[float]) -> str:
    return f"median {median(values):.3f}, range {min(values):.3f}–{max(values):.3f}"


async def _streams(
    ctx: Context, sides: dict[str, tuple[str, str]], reps: int
) -> dict[str, list[float]]:
    clients = {name: openai_client(url + "/v1", key, 1) for name, (url, key) in sides.items()}
    text, n = prompt(0), ctx.max_tokens
    runs: dict[str, list[float]] = {name: [] for name in sides}
    durations: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    try:
        for name in names:  # warm-up: the prompt cache, connections
            await stream_once(clients[name], "default", text, n)
        for i in range(reps):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                result = await stream_once(clients[name], "default", text, n)
                runs[name].append(result.tok_s)
                durations[name].append(result.total)
    finally:
        for client in clients.values():
            await client.close()
    runs.update({f"{name} seconds": durations[name] for name in sides})
    return runs


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_per_completion(
    ctx: Context, sides: dict[str, tuple[str, str, int]], rounds: int, batch: int
) -> dict[str, list[float]]:
    """Server CPU seconds per short completion, each side in turn, `rounds` times: CPU time is
    what the checks cost, and unlike wall time it hardly moves with the machine's other load."""
    import httpx

    body = {"model": "default", "max_tokens": 8, "temperature": 0.0}
    out: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for i in range(rounds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            url, key, pid = sides[name]
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=300) as client:
                before = _cpu_seconds(pid)
                for j in range(batch):
                    messages = [{"role": "user", "content": prompt(j)}]
                    client.post(url + "/v1/chat/completions", json={**body, "messages": messages})
                out[name].append((_cpu_seconds(pid) - before) / batch)
    return out


def hook_cost(ctx: Context) -> dict[str, float]:
    """Seconds per completion of `admit_request` + `Ticket.release` + `Ticket.finish`, in-process:
    the server's own key (accounting only), a key with limits (the admission transaction too)
    and a key with a concurrent limit (a generation lease taken at admission and deleted before
    the answer's last bytes), on SQLite, and the last two on PostgreSQL, which replicas share.
    Deterministic enough to compare with the 3% that wall times on this machine cannot show."""
    from tests.db.pg import database_urls, pg_available

    out = asyncio.run(_hooks(f"sqlite:///{ctx.work / 'hooks.db'}", _HOOK_KEYS))
    if pg_available():
        urls = cast(Generator[str, None, None], database_urls("postgresql", ctx.work))
        try:
            pg = asyncio.run(_hooks(next(urls), _HOOK_KEYS[1:]))
        finally:
            urls.close()  # drops the database
        out.update({f"{label}, PostgreSQL": seconds for label, seconds in pg.items()})
    return out


# (owner, row label, limits): the server's own key has none and is never in the table.
_HOOK_KEYS: list[tuple[str, str, dict[str, int | None]]] = [
    ("default", "no limits", {}),
    ("limited", "with limits", {"rpm": 10**9, "tpm": 10**9}),
    ("capped", "with a concurrent limit", {"concurrent": 4}),
]


async def _hooks(url: str, keys: list[tuple[str, str, dict[str, int | None]]]) -> dict[str, float]:
    from types import SimpleNamespace

    from chatbot_cli.db.keys import create_key
    from chatbot_cli.db.limits import set_limits
    from chatbot_cli.db.session import Database
    from chatbot_cli.server.quota import Quota, admit_request

    class Fan:
        def usage(self) -> dict[str, int]:
            return {"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38}

    async with Database(url) as db:
        await db.upgrade()
        for i, (owner, _, limits) in enumerate(keys):
            if limits:
                await create_key(db, owner, str(i) * 64)
                await set_limits(db, owner, limits)
        quota = Quota.start(db)
        out: dict[str, float] = {}
        fan: Any = Fan()
        try:
            for owner, label, _ in keys:
                request: Any = SimpleNamespace(state=SimpleNamespace(owner=owner))
                samples = []
                for _ in range(6):
                    t0 = time.perf_counter()
                    for _ in range(200):
                        ticket = await admit_request(quota, request, "default", 1)
                        await ticket.release()  # as serving.py does before the last bytes
                        ticket.finish(fan)
                    samples.append((time.perf_counter() - t0) / 200)
                out[label] = median(samples[1:])  # the first warms caches up
        finally:
            await quota.aclose()
        return out


_SIDES = (
    ("default", "accounted, no limits"),
    ("limited", "with limits"),
    ("capped", "with a concurrent limit"),
)


def stream_rows(ctx: Context) -> list[Row]:
    reps = 4 if ctx.quick else 12
    without = _start(ctx, "quota-without", "bench.noquota", model=True)
    with_ = _start(ctx, "quota-with", "chatbot_cli", model=True)
    try:
        key = _limited_key(with_, "bench-limited", "--rpm", "1000000", "--tpm", "1000000000")
        capped = _limited_key(with_, "bench-capped", "--concurrent", "4")
        sides = {
            "without": (without.url, without.api_key),
            "default": (with_.url, with_.api_key),
            "limited": (with_.url, key),
            "capped": (with_.url, capped),
        }
        ctx.log(f"figure 10: one stream with and without accounting, {reps} rounds alternating")
        runs = asyncio.run(_streams(ctx, sides, reps))
        rounds = 4 if ctx.quick else 8
        ctx.log(f"figure 10: server CPU per completion, {rounds} rounds alternating")
        pids = {n: (without if n == "without" else with_).proc.pid for n in sides}
        cpu = _cpu_per_completion(
            ctx, {n: (*sides[n], pids[n]) for n in sides}, rounds, 10 if ctx.quick else 20
        )
    finally:
        with_.stop()
        without.stop()
    base = max(runs["without"])
    rows = []
    for name, label in _SIDES:
        best = ratio(max(runs[name]), base)
        per_round = [ratio(a, b) for a, b in zip(runs[name], runs["without"], strict=True)]
        rows.append(
            Row(
                f"10. fig 1 stream tok/s, {label}",
                f"{max(runs[name]):.1f} tok/s",
                f"without {base:.1f} tok/s",
                best,
                "—",
                None,
                f"best of {reps} each; per-round ratios {_spread(per_round)}",
            )
        )
    stream = median(runs["without seconds"])
    completion_cpu = median(cpu["without"])
    for label, seconds in hook_cost(ctx).items():
        r = ratio(stream, stream + seconds)
        db = "PostgreSQL" if label.endswith("PostgreSQL") else "SQLite"
        rows.append(
            Row(
                f"10. quota hooks per fig 1 stream, {label}",
                f"{seconds * 1e6:.0f} µs",
                f"the stream {stream * 1000:.0f} ms",
                r,
                f"ratio ≥ {COST_TARGET}",
                r >= COST_TARGET,
                f"admit + release + finish in-process ({db}), median of 5 × 200; ratio = stream ÷ "
                f"(stream + hooks); of an 8-token completion's server CPU "
                f"({completion_cpu * 1000:.1f} ms): {seconds / completion_cpu:.1%}",
            )
        )
    base_cpu = sum(cpu["without"])
    for name, label in _SIDES:
        # Inverted, so that like every row here 1.0 is "no cost" and 0.97 is 3% more.
        r = ratio(base_cpu, sum(cpu[name]))
        per_round = [ratio(b, a) for a, b in zip(cpu[name], cpu["without"], strict=True)]
        rows.append(
            Row(
                f"10. server CPU per completion, {label}",
                f"{sum(cpu[name]) / len(cpu[name]) * 1000:.1f} ms",
                f"without {base_cpu / len(cpu['without']) * 1000:.1f} ms",
                r,
                "—",
                None,
                f"without ÷ with, 8-token completions; per-round {_spread(per_round)}",
            )
        )
    return rows


def todo_rows(ctx: Context) -> list[Row]:
    rounds = 2 if ctx.quick else 4
    duration = 2.0 if ctx.quick else 2.5
    without = _start(ctx, "quota-todo-without", "bench.noquota", model=False)
    with_ = _start(ctx, "quota-todo-with", "chatbot_cli", model=False)
    variables = json.dumps({"t": "load test"})
    results: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    try:
        for i in range(rounds):
            ctx.log(f"figure 10: createTodo round {i + 1}/{rounds}, with and without accounting")
            order = [("without", without), ("with", with_)]
            for name, server in order if i % 2 == 0 else order[::-1]:
                results[name].append(
                    load(
                        ctx,
                        server.url,
                        server.api_key,
                        CREATE,
                        server.env,
                        variables,
                        duration=duration,
                    )
                )
    finally:
        with_.stop()
        without.stop()
    base, ours = combine(results["without"]), combine(results["with"])
    r = ratio(ours["rps"], base["rps"])
    per_round = [
        ratio(a["rps"], b["rps"]) for a, b in zip(results["with"], results["without"], strict=True)
    ]
    return [
        Row(
            "10. fig 4 createTodo req/s, accounted",
            f"{ours['rps']:.0f}/s",
            f"without {base['rps']:.0f}/s",
            r,
            "—",
            None,
            f"{rounds} rounds alternating; per-round ratios {_spread(per_round)}",
        )
    ]


def _hammer(
    url: str, key: str, until: float, counts: list[tuple[int, int]], lock: threading.Lock
) -> None:
    import httpx

    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    admitted = refused = 0
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        while time.monotonic() < until:
            status = client.post(url + "/v1/chat/completions", json=body).status_code
            if status != 429:
                admitted += 1
            else:
                refused += 1
                time.sleep(0.02)
    with lock:
        counts.append((admitted, refused))


def replica_rows(ctx: Context) -> list[Row]:
    from concurrent.futures import ThreadPoolExecutor

    from tests.db.pg import database_urls, pg_available

    name = f"10. 2 replicas, 4 clients, {RPM} rpm for {REPLICA_SECONDS:.0f} s"
    if not pg_available():
        return [Row(name, "—", "—", None, "—", None, "no PostgreSQL on 127.0.0.1:5432")]
    urls = cast(Generator[str, None, None], database_urls("postgresql", ctx.work))
    pg_url = next(urls)
    env = {"CHATBOT_DATABASE_URL": pg_url, "CHATBOT_DB_POOL_SIZE": "4"}
    try:
        with ThreadPoolExecutor(2) as pool:
            replicas = list(
                pool.map(
                    # No model: an admitted request is answered at once (404, no model), so
                    # the limiter sets the pace, not decoding on a shared machine
                    # (tests/scale/test_replica_limits.py runs the same with a model).
                    lambda i: _start(ctx, f"replica{i}", "chatbot_cli", model=False, env=env),
                    range(2),
                )
            )
        try:
            key = _limited_key(replicas[0], "bench-shared", "--rpm", str(RPM))
            ctx.log(
                f"figure 10: 4 clients on one key across 2 replicas for {REPLICA_SECONDS:.0f} s"
            )
            counts: list[tuple[int, int]] = []
            lock = threading.Lock()
            until = time.monotonic() + REPLICA_SECONDS
            threads = [
                threading.Thread(
                    target=_hammer, args=(replicas[i % 2].url, key, until, counts, lock)
                )
                for i in range(4)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            for server in replicas:
                server.stop()
    finally:
        urls.close()  # drops the database
    admitted = sum(a for a, _ in counts)
    refused = sum(r for _, r in counts)
    r = ratio(admitted, RPM)
    return [
        Row(
            name,
            f"{admitted} admitted",
            f"limit {RPM}",
            r,
            f"within {ADMIT_TOLERANCE:.0%}",
            abs(r - 1) <= ADMIT_TOLERANCE,
            f"{refused} refused (429); admitted per client {sorted(a for a, _ in counts)}; "
            "replicas without a model: admitted = answered with anything but 429",
        )
    ]


def run(ctx: Context) -> list[Row]:
    return [*stream_rows(ctx), *todo_rows(ctx), *replica_rows(ctx)]
