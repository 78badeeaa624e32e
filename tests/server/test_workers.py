"""server/workers.py with real processes: a worker ends when its supervisor is killed, by the
parent-death signal or (where there is none) by its watcher thread, and a worker whose
supervisor died before the hook was set exits at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The "worker": ties itself to its parent as a uvicorn worker does, then waits.
WORKER = """
import sys, time
from chatbot_cli.server import workers
if sys.argv[1] == "watch":
    workers._parent_death_signal = lambda sig: False  # as on a system without prctl
workers.exit_with_supervisor()
print("tied", flush=True)
time.sleep(60)
"""
# The "supervisor": starts the worker with its own pid in the environment, reports the
# worker's pid, then waits to be killed.
SUPERVISOR = """
import os, subprocess, sys, time
env = {**os.environ, "CHATBOT_SUPERVISOR_PID": str(os.getpid())}
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], env=env)
print(worker.pid, flush=True)
time.sleep(60)
"""


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited, waiting for init to reap it


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("how", ["pdeathsig", "watch"])
def test_worker_exits_when_its_supervisor_is_killed(how: str) -> None:
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, WORKER, how], stdout=subprocess.PIPE, text=True
    )
    try:
        assert supervisor.stdout is not None
        worker = int(supervisor.stdout.readline())
        time.sleep(3)  # the worker imports and ties itself; it must still be running
        assert not gone(worker)
        supervisor.kill()
        supervisor.wait()
        deadline = time.monotonic() + 5
        while not gone(worker):
            assert time.monotonic() < deadline, f"worker {worker} outlived its supervisor"
            time.sleep(0.05)
    finally:
        supervisor.kill()
        supervisor.wait()


def test_worker_whose_supervisor_already_died_exits_at_once() -> None:
    script = "from chatbot_cli.server import workers; workers.exit_with_supervisor(); print('up')"
    # Its parent is this test process, not the supervisor it was told about: that one is gone.
    env = {**os.environ, "CHATBOT_SUPERVISOR_PID": str(os.getpid() + 1_000_000)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert result.returncode == 1 and b"up" not in result.stdout
    # Told about its real parent, it carries on; and outside `serve --workers` nothing happens.
    for pid in (str(os.getpid()), ""):
        env = {**os.environ, "CHATBOT_SUPERVISOR_PID": pid}
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
        assert result.returncode == 0 and result.stdout == b"up\n", result.stderr
