"""Figure 3: CLI latency, process start to exit, against a server holding 100 todos.

The floor is `python -c pass`: the interpreter's own start-up, which no command can beat.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import httpx

from bench.common import ROOT, Context, Row, median, ratio, secs

COMMANDS: list[tuple[str, list[str], float]] = [
    ("chatbot --help", ["--help"], 0.15),
    ("chatbot todo list --json", ["todo", "list", "--json"], 0.20),
    ("chatbot todo add x --json", ["todo", "add", "x", "--json"], 0.20),
]
SEED_TODOS = 100


def seed_todos(url: str, headers: dict[str, str], count: int) -> None:
    mutation = "mutation ($t: String!) { createTodo(title: $t) { id } }"
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for i in range(count):
            r = client.post("/graphql", json={"query": mutation, "variables": {"t": f"seed {i}"}})
            r.raise_for_status()
            if "errors" in r.json():
                raise RuntimeError(f"seeding todos failed: {r.text}")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time from start to exit, and the CPU time the process used (user + system)."""
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()}")
    return elapsed, _cpu() - cpu


def timings(cmd: list[str], env: dict[str, str], runs: int, warmup: int = 2) -> tuple[float, float]:
    """Median wall time and median CPU time of `runs` runs after `warmup` runs."""
    for _ in range(warmup):
        _time(cmd, env)
    results = [_time(cmd, env) for _ in range(runs)]
    return median(r[0] for r in results), median(r[1] for r in results)


def run(ctx: Context, env: dict[str, str]) -> list[Row]:
    runs = 3 if ctx.quick else 15
    ctx.log(f"figure 3: CLI latency, median of {runs}")
    # Measure the CLI as installed: pip byte-compiles a regular install, and an editable tree
    # edited since setup would otherwise be recompiled on every run where
    # PYTHONDONTWRITEBYTECODE is set.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "chatbot_cli")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    floor, floor_cpu = timings([sys.executable, "-c", "pass"], env, runs)
    rows = []
    for label, args, target in COMMANDS:
        value, cpu = timings([sys.executable, "-m", "chatbot_cli", *args], env, runs)
        rows.append(
            Row(
                f"3. {label}",
                secs(value),
                f"python -c pass {secs(floor)}",
                ratio(value, floor),
                f"≤ {target:.2f} s",
                value <= target,
                # CPU time barely moves when other processes compete for the cores; wall time
                # does, so both are shown.
                f"median of {runs}; CPU time {secs(cpu)} (floor {secs(floor_cpu)})",
            )
        )
    return rows
