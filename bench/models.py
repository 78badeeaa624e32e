"""Figure 8, several models: pull throughput against curl, time to first token of a model that
must load first against a loaded one, and the per-request cost of a server holding two loaded
models against one holding one.

- 8a. `chatbot_cli.pull.pull` of an http URL (download, GGUF check, sha256, manifest) against
  `curl -o` of the same file from the same loopback server (Python's http.server in a child
  process), alternating, best of each: the ratio is our throughput over curl's (target ≥ 0.9).
- 8b. One server, `--max-loaded-models 1`, two models: a request for the model not loaded
  (its load, warm-up included, is in the time) against the same request once it is loaded;
  medians of 2 (--quick) or 3 rounds. Informational: no target.
- 8c. A server holding one model against one holding two (requests alternate between them),
  short non-streamed completions; the servers run one at a time, alternating rounds (two
  servers side by side slow each other: llama.cpp's idle threads poll the CPU for a while):
  median latency ratio (target ≤ 1.05).
"""

from __future__ import annotations

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
    rounds = 3 if ctx.quick else 5
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
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc, 30, log)
        store = Store(ctx.work / "pull-store")
        dest = ctx.work / "curl-out.gguf"
        ctx.log(f"8a: pull vs curl, {size_mb} MB, {rounds} rounds")
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run(["curl", "-sS", "--noproxy", "*", "-o", str(dest), url], check=True)
            theirs.append(time.perf_counter() - started)
            dest.unlink()
            started = time.perf_counter()
            pull(store, url, name="bench")
            ours.append(time.perf_counter() - started)
            store.remove("bench")
    finally:
        proc.terminate()
        proc.wait(10)
    size = src.stat().st_size / (1 << 20)
    ours_mb_s, curl_mb_s = size / min(ours), size / min(theirs)
    r = ratio(ours_mb_s, curl_mb_s)
    return [
        Row(
            "8a. models pull throughput (URL, loopback)",
            f"{ours_mb_s:.0f} MB/s",
            f"curl {curl_mb_s:.0f} MB/s",
            r,
            f"≥ {PULL_TARGET}",
            r >= PULL_TARGET,
            note=f"{size_mb} MB file, best of {rounds} alternating; ours includes the GGUF "
            f"check, the sha256 and the manifest (medians: ours {median(ours):.2f} s, curl "
            f"{median(theirs):.2f} s)",
        )
    ]


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


def _batch(client: object, server: LiveServer, models: list[str], n: int) -> list[float]:
    import httpx

    assert isinstance(client, httpx.Client)
    times = []
    for i in range(n):
        body = {
            "model": models[i % len(models)],
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 4,
            "temperature": 0,
        }
        started = time.perf_counter()
        client.post(server.url + "/v1/chat/completions", json=body).raise_for_status()
        times.append(time.perf_counter() - started)
    return times


def _latencies(ctx: Context, max_loaded: int, n: int, round_: int) -> list[float]:
    """Per-request latency on a server holding `max_loaded` models (requests alternate between
    them), alone on the machine: a second server's idle llama.cpp threads would poll the CPU."""
    import httpx

    models = ["default", "second"][:max_loaded]
    server = _server(ctx, f"models-{max_loaded}-{round_}", max_loaded)
    try:
        with httpx.Client(headers=server.headers, timeout=300) as client:
            # The first requests after a start are slow (llama.cpp sets up each slot; the
            # process is still settling): the same warm-up on both servers before measuring.
            _batch(client, server, models, 2 * ctx.parallel)
            return _batch(client, server, models, n)
    finally:
        server.stop()


def overhead_rows(ctx: Context) -> list[Row]:
    rounds, n = (2, 20) if ctx.quick else (2, 30)
    single: list[float] = []
    double: list[float] = []
    ctx.log(f"8c: {rounds} rounds of {n} requests, one server at a time")
    for i in range(rounds):
        # Which server goes first alternates, so a trend in the machine's load cancels out.
        for loaded in (1, 2) if i % 2 == 0 else (2, 1):
            (single if loaded == 1 else double).extend(_latencies(ctx, loaded, n, i))
    r = ratio(median(double), median(single))
    return [
        Row(
            "8c. request latency, two models loaded",
            ms(median(double)),
            f"one loaded {ms(median(single))}",
            r,
            f"≤ {OVERHEAD_TARGET}",
            r <= OVERHEAD_TARGET,
            note=f"median of {rounds}×{n} non-streamed 4-token completions each; servers "
            "run one at a time, alternating; the two-model server alternates its models",
        )
    ]


def run(ctx: Context) -> list[Row]:
    rows = pull_rows(ctx)
    rows += load_rows(ctx)
    rows += overhead_rows(ctx)
    return rows
