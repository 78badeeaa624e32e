"""The reference: llama.cpp's own HTTP server (via xllamacpp) on a loopback TCP port.

Run as a child process (`python -m bench.llama_server ...`) so that it competes for the CPU
exactly like `chatbot serve` does, configured like ours (slots, context, threads and libgomp's
spin count). It prints `ready <url>` once llama.cpp's task loop runs and exits on SIGTERM.

`Server()` returns just before its thread enters llama.cpp's task loop; dropping the server before
the loop is in loses the stop and joins that thread forever while holding the GIL (the start race
chatbot_cli/engine/llamacpp.py's `_load` waits out the same way). So SIGTERM keeps its default
action, which ends the process without dropping anything, until one metrics task has been
answered; only then does it become a graceful exit that drops the server.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from bench.common import Context, Process, isolated_env, wait_http
from chatbot_cli.engine import openmp


def main() -> None:
    parser = argparse.ArgumentParser(description="llama.cpp server for benchmarks")
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parallel", type=int, required=True)
    parser.add_argument("--n-ctx", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()

    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.model
    params.n_parallel = args.parallel
    params.n_ctx = args.n_ctx
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.endpoint_metrics = True  # handle_metrics answers only with the endpoint on
    server = xlc.Server(params)
    server.handle_metrics()  # returns once the task loop has run a task: a drop now stops it

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"ready http://127.0.0.1:{args.port}", flush=True)
    try:
        signal.pause()
    finally:
        del server


def start(ctx: Context) -> Process:
    import subprocess

    from tests.live import free_port

    port = free_port()
    log = ctx.work / "llama-server.log"
    cmd = [sys.executable, "-m", "bench.llama_server", "--model", str(ctx.model)]
    cmd += ["--port", str(port), "--parallel", str(ctx.parallel)]
    cmd += ["--n-ctx", str(ctx.n_ctx_total), "--threads", str(ctx.threads)]
    ctx.log(f"starting llama.cpp server (n_parallel {ctx.parallel}, n_ctx {ctx.n_ctx_total})")
    # Configured like ours down to libgomp's spin count (engine/openmp.py): what the spin alone
    # is worth is figure 1's spin rows, so figure 2 compares the serving stacks.
    env = isolated_env(ctx.work / "llama-home")
    env.setdefault(openmp.VAR, openmp.SPIN_COUNT)
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health", proc, 180, log)
    return Process(proc, url, log_path=log)


def start_llama_cpp_python(ctx: Context, slot_ctx: int) -> Process | None:
    """llama-cpp-python's server, if installed (it is not a dependency: see the README)."""
    import subprocess

    from tests.live import free_port

    probe = [str(ctx.peer_python), "-c", "import llama_cpp.server"]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return None
    port = free_port()
    log = ctx.work / "llama-cpp-python.log"
    cmd = [str(ctx.peer_python), "-m", "llama_cpp.server", "--model", str(ctx.model)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(slot_ctx)]
    cmd += ["--n_threads", str(ctx.threads), "--n_threads_batch", str(ctx.threads)]
    # Its default (True) silently ends every stream but the newest when requests overlap.
    cmd += ["--interrupt_requests", "False"]
    ctx.log("starting llama-cpp-python server")
    proc = subprocess.Popen(
        cmd,
        env=isolated_env(ctx.work / "lcp-home"),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/v1/models", proc, 180, log)
    return Process(proc, url, log_path=log)


if __name__ == "__main__":
    main()
