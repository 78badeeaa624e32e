"""Figure 8, several models: pull throughput against curl, time to first token of a model that
must load first against a loaded one, and the cost a token of a server holding two loaded
models against one holding one.

- 8a. `chatbot_cli.pull.pull` of an http URL (download, GGUF check, sha256, manifest) against
  `curl -o` of the same file from the same loopback server (Python's http.server in a child
  process), alternating: the ratio is the median of each round's, our throughput over curl's
  (target ≥ 0.9), with the spread and the best of each side in the note.
- 8b. One server, `--max-loaded-models 1`, two models: a request for the model not loaded
  (its load, warm-up included, is in the time) against the same request once it is loaded;
  medians of 2 (--quick) or 3 rounds. Informational: no target.
- 8c. Greedy streams of the default model on a server holding one model against one holding
  two (the second loaded by one request, then idle: its idle llama.cpp threads in the same
  process used to slow the other's, see docs/design.md "Several models"); time and the server's
  CPU a token; the servers run one at a time, alternating rounds: median time ratio (target
  ≤ 1.05).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import Context, Row, isolated_env, median, ms, ratio, wait_http

if TYPE_CHECKING:
    from tests.live import LiveServer

PULL_TARGET = 0.9
OVERHEAD_TARGET = 1.05


def _big_gguf(ctx: Context, size_mb: int) -> Path:
    """A loadable GGUF header and metadata (the tiny model) padded to `size_mb`: pull checks
    the header and hashes every byte, as for a real model."""
    from tests.tinymodel import write_tiny_model

    path = write_tiny_model(ctx.work / "pull-src" / "bench-model.Q4_0.gguf")
    with path.open("ab") as fh:
        block = b"\0" * (1 << 20)
        while fh.tell() < size_mb << 20:
            fh.write(block)
    return path


def pull_rows(ctx: Context) -> list[Row]:
    from chatbot_cli.models_store import Store
    from chatbot_cli.pull import pull
    from tests.live import free_port

    size_mb = 48 if ctx.quick else 384
    rounds = 3 if ctx.quick else 9
    src = _big_gguf(ctx, size_mb)
    port = free_port()
    log = ctx.work / "pull-http.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=src.parent,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/{src.name}"
    ours: list[float] = []
    theirs: list[float] = []
    ours_cpu: list[float] = []
    theirs_cpu: list[float] = []
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc, 30, log)
        store = Store(ctx.work / "pull-store")
        dest = ctx.work / "curl-out.gguf"
        ctx.log(f"8a: pull vs curl, {size_mb} MB, {rounds} rounds")
        for _ in range(rounds):
            started, cpu = time.perf_counter(), _children_cpu()
            subprocess.run(["curl", "-sS", "--noproxy", "*", "-o", str(dest), url], check=True)
            theirs.append(time.perf_counter() - started)
            theirs_cpu.append(_children_cpu() - cpu)
            dest.unlink()
            started, cpu = time.perf_counter(), time.process_time()
            pull(store, url, name="bench")
            ours.append(time.perf_counter() - started)
            ours_cpu.append(time.process_time() - cpu)
            store.remove("bench")
    finally:
        proc.terminate()
        proc.wait(10)
    size = src.stat().st_size / (1 << 20)
    ours_mb_s, curl_mb_s = size / median(ours), size / median(theirs)
    # Each round's pair ran back to back: its ratio is what the machine's drift touches least.
    per_round = [c / o for o, c in zip(ours, theirs, strict=True)]
    r = median(per_round)
    return [
        Row(
            "8a. models pull throughput (URL, loopback)",
            f"{ours_mb_s:.0f} MB/s",
            f"curl {curl_mb_s:.0f} MB/s",
            r,
            f"≥ {PULL_TARGET}",
            r >= PULL_TARGET,
            note=f"{size_mb} MB file, {rounds} alternating rounds, medians; ratio of each round: "
            f"median {r:.2f}, best {max(per_round):.2f}, worst {min(per_round):.2f}; best "
            f"of each: ours {size / min(ours):.0f}, curl {size / min(theirs):.0f} MB/s; ours "
            f"includes the GGUF check, the sha256 and the manifest (CPU medians: ours "
            f"{median(ours_cpu):.2f} s, curl {median(theirs_cpu):.2f} s)",
        )
    ]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _add_pulled(home: Path, model_id: str, source: Path) -> None:
    from chatbot_cli.models_store import Entry, Store

    store = Store(home / "data" / "models")
    target = store.model_dir(model_id) / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    store.add(Entry(model_id, "bench", [source.name], target.stat().st_size))


def _server(ctx: Context, name: str, max_loaded: int) -> LiveServer:
    from tests.live import LiveServer

    home = ctx.work / name
    home.mkdir(parents=True, exist_ok=True)
    _add_pulled(home, "second", ctx.model)
    args = ["--parallel", str(ctx.parallel), "--threads", str(ctx.threads)]
    args += ["--max-loaded-models", str(max_loaded)]
    server = LiveServer(
        home=home,
        model=ctx.model,
        extra_args=args,
        extra_env={"PYTHONPATH": isolated_env(home)["PYTHONPATH"]},
    )
    ctx.log(f"starting chatbot serve ({name})")
    return server.start(timeout=180)


def _ttft(client: object, server: LiveServer, model: str) -> float:
    import httpx

    assert isinstance(client, httpx.Client)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 4,
        "temperature": 0,
        "stream": True,
    }
    started = time.perf_counter()
    with client.stream("POST", server.url + "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                return time.perf_counter() - started
    return time.perf_counter() - started


def load_rows(ctx: Context) -> list[Row]:
    import httpx

    rounds = 2 if ctx.quick else 3
    server = _server(ctx, "models-ttft", 1)
    cold: list[float] = []
    warm: list[float] = []
    try:
        with httpx.Client(headers=server.headers, timeout=300) as client:
            for _ in range(rounds):
                _ttft(client, server, "default")  # "second" is now unloaded
                cold.append(_ttft(client, server, "second"))
                warm.append(_ttft(client, server, "second"))
    finally:
        server.stop()
    r = ratio(median(cold), median(warm))
    return [
        Row(
            "8b. time to first token, model not loaded",
            ms(median(cold)),
            f"loaded {ms(median(warm))}",
            r,
        )
    ]


def _tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its live children (a worker process holding a model)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        current = pids.pop()
        proc = Path("/proc") / str(current)
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            for task in (proc / "task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _decode(client: object, server: LiveServer, max_tokens: int) -> tuple[float, float]:
    """One greedy stream of the default model: (seconds, CPU seconds of the server's processes)
    a token, from the request to the stream's end. Not from the first token: a server whose
    event loop lags behind its decode threads would deliver most tokens at the end."""
    import httpx

    assert isinstance(client, httpx.Client) and server.proc is not None
    body = {
        "model": "default",
        "messages": [{"role": "user", "content": "Tell me a long story about a lighthouse."}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    tokens = 0
    started, cpu = time.perf_counter(), _tree_cpu(server.proc.pid)
    with client.stream("POST", server.url + "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if '"usage":{' in line:
                tokens = json.loads(line.removeprefix("data: "))["usage"]["completion_tokens"]
    tokens = max(1, tokens)
    return (time.perf_counter() - started) / tokens, (_tree_cpu(server.proc.pid) - cpu) / tokens


def _decoding(ctx: Context, max_loaded: int, n: int, round_: int) -> list[tuple[float, float]]:
    """Streams of the default model on a server holding `max_loaded` models: with two, the
    second is loaded (one request) and then left idle, the case that used to slow the other."""
    import httpx

    server = _server(ctx, f"models-{max_loaded}-{round_}", max_loaded)
    tokens = 32 if ctx.quick else 64
    try:
        with httpx.Client(headers=server.headers, timeout=300) as client:
            _decode(client, server, tokens)
            if max_loaded == 2:
                _decode_other(client, server)
            loaded = client.get(server.url + "/api/ps").raise_for_status().json()
            assert len(loaded["data"]) == max_loaded, loaded
            return [_decode(client, server, tokens) for _ in range(n)]
    finally:
        server.stop()


def _decode_other(client: object, server: LiveServer) -> None:
    import httpx

    assert isinstance(client, httpx.Client)
    body = {"model": "second", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    client.post(server.url + "/v1/chat/completions", json=body).raise_for_status()


def overhead_rows(ctx: Context) -> list[Row]:
    rounds, n = (2, 3) if ctx.quick else (4, 4)
    single: list[tuple[float, float]] = []
    double: list[tuple[float, float]] = []
    ctx.log(f"8c: {rounds} rounds of {n} streams, one server at a time")
    for i in range(rounds):
        # Which server goes first alternates, so a trend in the machine's load cancels out.
        for loaded in (1, 2) if i % 2 == 0 else (2, 1):
            (single if loaded == 1 else double).extend(_decoding(ctx, loaded, n, i))
    one, two = median(t for t, _ in single), median(t for t, _ in double)
    cpu_one, cpu_two = median(c for _, c in single), median(c for _, c in double)
    r = ratio(two, one)
    return [
        Row(
            "8c. stream time a token, second model loaded (idle)",
            ms(two),
            f"one loaded {ms(one)}",
            r,
            f"≤ {OVERHEAD_TARGET}",
            r <= OVERHEAD_TARGET,
            note=f"median of {rounds}×{n} greedy streams of the default model; servers run one "
            f"at a time, alternating; CPU a token {ms(cpu_two)} vs {ms(cpu_one)} "
            f"({ratio(cpu_two, cpu_one):.2f})",
        )
    ]


def run(ctx: Context) -> list[Row]:
    rows = pull_rows(ctx)
    rows += load_rows(ctx)
    rows += overhead_rows(ctx)
    return rows
