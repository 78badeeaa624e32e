"""bench/llama_server.py: the reference server process stops on SIGTERM at any moment.

Dropping an xllamacpp server before its task loop runs hangs the process for good; the module
waits for one answered task before SIGTERM may drop it. A hang here fails the test by timeout."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
EXIT_TIMEOUT = 60


def _start(model: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bench.llama_server", "--model", str(model)]
    cmd += ["--port", str(free_port()), "--parallel", "2", "--n-ctx", "512", "--threads", "1"]
    return subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def test_sigterm_once_ready_drops_the_server_and_exits_cleanly(tiny_model: Path) -> None:
    proc = _start(tiny_model)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready http://127.0.0.1:"), line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EXIT_TIMEOUT) == 0  # SystemExit(0) after the server was dropped
    finally:
        proc.kill()
        proc.wait()
