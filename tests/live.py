"""A real `chatbot serve` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def workers_of(pid: int) -> list[int]:
    """uvicorn's worker processes: children of the server started with multiprocessing spawn."""
    return children_of(pid, b"spawn_main")


def model_workers_of(pid: int) -> list[int]:
    """The processes a server runs its second and later models in (engine/worker.py)."""
    return children_of(pid, b"chatbot_cli.engine.worker_main")


def children_of(pid: int, marker: bytes) -> list[int]:
    """Children of `pid` whose command line holds `marker` (a zombie's is empty)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and marker in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def process_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie waiting for its new parent to reap it counts)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    home: Path
    model: Path | None
    api_key: str = "sk-test-key-0123456789"
    extra_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    # The module run as `python -m MODULE serve`: bench/noquota.py is chatbot_cli with a change.
    module: str = "chatbot_cli"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def env(self) -> dict[str, str]:
        """Environment for a CLI subprocess talking to this server with no flags."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
        env.update(
            {
                "CHATBOT_CONFIG": str(self.home / "config.toml"),
                "CHATBOT_DATA_DIR": str(self.home / "data"),
                "CHATBOT_URL": self.url,
                "CHATBOT_API_KEY": self.api_key,
                "XDG_CONFIG_HOME": str(self.home / "xdg-config"),
                "XDG_DATA_HOME": str(self.home / "xdg-data"),
                "NO_COLOR": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> LiveServer:
        if not self.port:
            self.port = free_port()
        args = [sys.executable, "-m", self.module, "serve", "--host", "127.0.0.1"]
        args += ["--port", str(self.port)]
        if self.model is not None:
            args += ["--model", str(self.model)]
        args += self.extra_args
        self.log_path = self.home / f"server-{self.port}.log"
        log = self.log_path.open("ab")
        # Its own process group, so stopping it reaches every process it started (workers).
        self.proc = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM to the server (its graceful shutdown stops its workers), then SIGKILL to
        whatever is left of its process group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self._kill_group()
        return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL to the server and every process of its group."""
        if self.proc is not None:
            self._kill_group()
            self.proc.wait()

    def _kill_group(self) -> None:
        assert self.proc is not None
        # The group id is the leader's pid; nothing to do once it and every member are gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
