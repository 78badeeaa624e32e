"""The server's processes probed as an operator's bad day would: `chatbot serve --workers 2`
whose supervisor is killed outright (kill -9, the OOM killer). Its workers must not keep the
port, orphaned, so that a restarted supervisor can bind it."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from tests.live import LiveServer, process_gone, workers_of

pytestmark = pytest.mark.e2e


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_workers_exit_when_the_supervisor_is_killed(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(extra_args=["--workers", "2"])
    assert server.proc is not None
    deadline = time.monotonic() + 30
    while len(pids := workers_of(server.proc.pid)) < 2:
        assert time.monotonic() < deadline, f"workers: {pids}\n{server.log()}"
        time.sleep(0.1)
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200

    os.kill(server.proc.pid, signal.SIGKILL)  # the supervisor alone, not its process group
    server.proc.wait()
    killed = time.monotonic()
    while not (all(process_gone(pid) for pid in pids) and port_free(server.port)):
        assert time.monotonic() - killed < 10, (
            f"workers {[p for p in pids if not process_gone(p)]} outlived their supervisor\n"
            + server.log()[-3000:]
        )
        time.sleep(0.1)

    # A new supervisor can take the port again (bound the way uvicorn binds it).
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", server.port))
        again.listen()
