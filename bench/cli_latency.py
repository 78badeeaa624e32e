"""Figure 3: CLI latency, process start to exit, against a server holding 100 todos.

`todo add|list` run without typer (cli/todo_fast.py) and the piped root help comes from its
cache (cli/help_cache.py): these rows measure those paths, as a script or a second `--help`
sees them. The floor is `python -c pass`: the interpreter's own start-up, which no command can
beat. The floor and the commands take turns round by round, and each command is judged by the
median of its ratios to the floor of the same round: on a shared machine whose speed drifts
within minutes, seconds measured a minute apart compare two different machines.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import httpx

from bench.common import ROOT, Context, Row, median, secs

COMMANDS: list[tuple[str, list[str]]] = [
    ("chatbot --help", ["--help"]),
    ("chatbot todo list --json", ["todo", "list", "--json"]),
    ("chatbot todo add x --json", ["todo", "add", "x", "--json"]),
]
RATIO_TARGET = 3.5  # each command's start-to-exit time over `python -c pass`, same round
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


def run(ctx: Context, env: dict[str, str]) -> list[Row]:
    rounds = 5 if ctx.quick else 21
    ctx.log(f"figure 3: CLI latency, {rounds} alternating rounds")
    # Measure the CLI as installed: pip byte-compiles a regular install, and an editable tree
    # edited since setup would otherwise be recompiled on every run where
    # PYTHONDONTWRITEBYTECODE is set.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "chatbot_cli")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # The root help's cache (cli/help_cache.py) in the run's own directory; the warm-up runs
    # below fill it, as a user's first `chatbot --help` does.
    env = {**env, "XDG_CACHE_HOME": str(ctx.work / "cli-cache")}
    floor_cmd = [sys.executable, "-c", "pass"]
    commands = [[sys.executable, "-m", "chatbot_cli", *args] for _, args in COMMANDS]
    for cmd in [floor_cmd, *commands]:  # warm the page cache and the byte-code
        _time(cmd, env)
        _time(cmd, env)
    # Every round runs the floor and each command once, in a rotating order, so a busy spell
    # on the machine weighs on every side alike; each command's ratio is taken within a round.
    floors: list[tuple[float, float]] = []
    runs: list[list[tuple[float, float]]] = [[] for _ in COMMANDS]
    for r in range(rounds):
        order = list(range(len(COMMANDS) + 1))
        k = r % len(order)
        for i in order[k:] + order[:k]:
            if i == 0:
                floors.append(_time(floor_cmd, env))
            else:
                runs[i - 1].append(_time(commands[i - 1], env))
    floor = median(f[0] for f in floors)
    floor_cpu = median(f[1] for f in floors)
    rows = []
    for (label, _), times in zip(COMMANDS, runs, strict=True):
        ratios = [t[0] / f[0] for t, f in zip(times, floors, strict=True)]
        cpu_ratios = [t[1] / f[1] for t, f in zip(times, floors, strict=True) if f[1] > 0]
        value = median(t[0] for t in times)
        mid = median(ratios)
        rows.append(
            Row(
                f"3. {label}",
                secs(value),
                f"python -c pass {secs(floor)}",
                mid,
                f"ratio ≤ {RATIO_TARGET}",
                mid <= RATIO_TARGET,
                # CPU time barely moves when other processes compete for the cores; wall time
                # does, so both are shown.
                f"{rounds} alternating rounds, ratio within each round: median {mid:.2f}, "
                f"best {min(ratios):.2f}, worst {max(ratios):.2f}; CPU time "
                f"{secs(median(t[1] for t in times))} (floor {secs(floor_cpu)}, ratio "
                f"{median(cpu_ratios):.2f})",
            )
        )
    return rows
