"""The server's CPU per streamed token, by thread, for source trees side by side.

    python -m bench.stream_cpu [--real] [--rounds R] [--streams S] [--tokens N] NAME=TREE ...

Each TREE (a checkout of this repository; `.` for this one) runs as a `chatbot serve` of its own
(PYTHONPATH first), read with the `openai` SDK like figure 1, the trees taking turns round by
round. By default the server is bench/paced.py's (xllamacpp's Server replaced by a sleeping
one, so no decode CPU); with --real it decodes the embedded SmolLM2. Per round, every thread's
CPU time from /proc/<pid>/task/*/schedstat over the round's tokens: the event loop (the main
thread), the per-request worker threads (new during the round; sampled every few milliseconds,
as they exit), llama.cpp's decode threads (the two busiest others with --real) and the rest,
plus the loop thread's voluntary context switches (its wake-ups) a token. CPU time, not wall
clock: it holds on a loaded machine, where a stream's wall time does not. The loop's share
that follows wall time (timers, idle ticks) grows with the load, and more so with --real."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
from pathlib import Path

from bench.common import ROOT, openai_client, prompt, stream_once
from chatbot_cli.engine.models import embedded_model_path
from tests.live import LiveServer

GROUPS = ["loop", "worker", "decode", "other", "client", "wakes"]


def _threads(pid: int) -> dict[int, int]:
    """Nanoseconds on CPU of each live thread of `pid`."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[int(tid)] = int(f.read().split()[0])
        except OSError:  # exited meanwhile
            pass
    return out


def _wakes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/task/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches"):
            return int(line.split()[1])
    return 0


class _Sampler(threading.Thread):
    """Keeps the last CPU time seen of every thread, so a worker that exits is still counted
    (all but its last few milliseconds)."""

    def __init__(self, pid: int, seen: dict[int, int]) -> None:
        super().__init__(daemon=True)
        self.pid, self.seen, self.done = pid, dict(seen), threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.seen.update(_threads(self.pid))
            time.sleep(0.003)

    def stop(self) -> dict[int, int]:
        self.done.set()
        self.join()
        self.seen.update(_threads(self.pid))
        return self.seen


async def _round(server: LiveServer, streams: int, tokens: int, first: int, decode: int) -> dict:
    assert server.proc is not None
    pid = server.proc.pid
    client = openai_client(server.url + "/v1", server.api_key, 1)
    before, wakes = _threads(pid), _wakes(pid)
    sampler = _Sampler(pid, before)
    sampler.start()
    got = 0
    cpu = time.thread_time()
    for i in range(streams):
        got += (await stream_once(client, "default", prompt(first + i), tokens)).tokens
    cpu = time.thread_time() - cpu
    after = sampler.stop()
    wakes = _wakes(pid) - wakes
    await client.close()
    spent = {tid: ns - before.get(tid, 0) for tid, ns in after.items()}
    others = sorted((ns for tid, ns in spent.items() if tid != pid and tid in before), reverse=True)
    us = {
        "loop": spent.get(pid, 0),
        "worker": sum(ns for tid, ns in spent.items() if tid not in before),
        "decode": sum(others[:decode]),
        "other": sum(others[decode:]),
        "client": cpu * 1e9,
    }
    result = {k: v / 1000 / max(got, 1) for k, v in us.items()}
    result["wakes"] = wakes / max(got, 1)
    return result


async def run(args: argparse.Namespace) -> None:
    model = embedded_model_path()
    trees = [(name, Path(tree).resolve()) for name, tree in (s.split("=", 1) for s in args.trees)]
    # `python -m` puts the working directory first on a server's path, before PYTHONPATH: from
    # a checkout's root every server would run that checkout's code.
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    servers: dict[str, LiveServer] = {}
    try:
        for name, tree in trees:
            home = work / name
            home.mkdir(parents=True, exist_ok=True)
            path = [str(tree)]
            if not args.real:
                path.append(str(ROOT / "bench"))  # bench/paced.py as the top-level `paced`
            servers[name] = LiveServer(
                home=home,
                model=model,
                extra_args=["--parallel", "1", "--threads", "2"],
                extra_env={"PYTHONPATH": os.pathsep.join(path)},
                module="chatbot_cli" if args.real else "paced",
            ).start(timeout=180)
        decode = 2 if args.real else 0
        for server in servers.values():  # warm-up
            await _round(server, 1, args.tokens, 10_000, decode)
        results: dict[str, list[dict]] = {name: [] for name in servers}
        for r in range(args.rounds):
            order = list(servers.items())
            for name, server in order if r % 2 == 0 else order[::-1]:
                res = await _round(server, args.streams, args.tokens, r * args.streams, decode)
                results[name].append(res)
                cells = "  ".join(f"{k} {res[k]:.2f}" for k in GROUPS)
                print(f"round {r} {name}: {cells}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    print(
        f"\nCPU µs a token (wakes: loop wake-ups a token), median (min–max) of {args.rounds}"
        f" rounds; load average {os.getloadavg()[0]:.1f}"
    )
    for name, rounds in results.items():
        cells = []
        for k in GROUPS:
            values = [r[k] for r in rounds]
            med, lo, hi = statistics.median(values), min(values), max(values)
            cells.append(f"{k} {med:.2f} ({lo:.2f}–{hi:.2f})")
        print(f"{name}: " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_cpu", description=__doc__)
    parser.add_argument("trees", nargs="+", metavar="NAME=TREE")
    parser.add_argument("--real", action="store_true", help="Decode SmolLM2 instead of pacing.")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--work", default="/tmp/bench-stream-cpu")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
