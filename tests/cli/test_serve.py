from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from chatbot_cli.cli.app import app
from chatbot_cli.cli.serve import base_url, is_loopback, port_problem
from chatbot_cli.config import Settings, read_config_file
from tests.live import LiveServer

runner = CliRunner()


@pytest.mark.parametrize(
    "host,expected",
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    "host,expected",
    [
        ("127.0.0.1", "http://127.0.0.1:8111"),
        ("::1", "http://[::1]:8111"),
        ("[::1]", "http://[::1]:8111"),
        ("localhost", "http://localhost:8111"),
    ],
)
def test_base_url_brackets_ipv6(host: str, expected: str) -> None:
    assert base_url(host, 8111) == expected


def test_port_problem_names_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        problem = port_problem("127.0.0.1", port)
        assert problem is not None and f"127.0.0.1:{port}" in problem
        assert "in use" in problem and "--port" in problem
    assert port_problem("127.0.0.1", port) is None  # free again
    assert port_problem("127.0.0.1", 0) is None


def test_busy_port_is_one_line_before_anything_loads(tmp_path: Path, tiny_model: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "chatbot_cli", "serve", "--port", str(port)]
            + ["--model", str(tiny_model)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"Error: Cannot listen on 127.0.0.1:{port}: ")
    assert proc.stderr.count("\n") == 1 and "serving on" not in proc.stderr
    assert not (Path(os.environ["CHATBOT_DATA_DIR"]) / "chatbot.db").exists()  # nothing ran


def test_no_auth_refused_off_loopback() -> None:
    result = runner.invoke(app, ["serve", "--no-auth", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback" in result.stderr and result.stdout == ""


def test_wildcard_cors_refused() -> None:
    result = runner.invoke(app, ["serve", "--cors-origin", "*"])
    assert result.exit_code == 2 and "refused" in result.stderr


def test_missing_model_file_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--model", str(tmp_path / "nope.gguf")])
    assert result.exit_code != 0
    assert "nope.gguf" in result.stderr and "Traceback" not in result.stderr


def test_first_serve_generates_key_cli_uses_it(
    start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    home = tmp_path / "fresh"
    # No key anywhere: the server must make one and store it for the CLI.
    server = start_server(home=home, api_key="", extra_env={"CHATBOT_API_KEY": ""})
    cfg = home / "config.toml"
    key = read_config_file(cfg)["api_key"]
    assert key.startswith("sk-chatbot-")
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    assert key not in server.log()  # never echoed
    assert "config.toml" in server.log()
    env = {**server.env}
    env.pop("CHATBOT_API_KEY", None)
    out = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "todo", "add", "from the cli", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    r = httpx.post(
        server.url + "/graphql",
        json={"query": "{ todos { title } }"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.json()["data"]["todos"] == [{"title": "from the cli"}]


def test_env_key_accepted(live_server: LiveServer) -> None:
    # live_server runs with CHATBOT_API_KEY in its environment and no config-file key.
    assert not read_config_file(live_server.home / "config.toml").get("api_key")
    r = httpx.get(live_server.url + "/v1/models", headers=live_server.headers)
    assert r.status_code == 200


def test_keep_alive_outlasts_http_client_pools() -> None:
    # Equal timeouts race: the client reuses the connection as the server closes it.
    assert Settings().keep_alive > httpx.Limits().keepalive_expiry


def _idle_connection_open(server: LiveServer, idle: float) -> bool:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(idle)
        sock.settimeout(0.2)
        try:
            # The first recv may have returned only the headers: read whatever is left of the
            # response before deciding. b"" means the server closed the connection.
            while sock.recv(4096):
                pass
            return False
        except TimeoutError:
            return True  # nothing more to read: still open


def test_keep_alive_setting_reaches_the_server(
    start_server: Callable[..., LiveServer],
) -> None:
    assert _idle_connection_open(start_server(), 1.5)
    assert not _idle_connection_open(start_server(extra_env={"CHATBOT_KEEP_ALIVE": "1"}), 1.5)


def test_sigterm_exits_zero(live_server: LiveServer) -> None:
    assert live_server.proc is not None
    live_server.proc.send_signal(signal.SIGTERM)
    assert live_server.proc.wait(20) == 0


def test_first_start_migrates_in_a_child_process(tmp_path: Path) -> None:
    """The pre-flight migration of a new database runs Alembic in a child, so the server
    process never holds it; the database is at head afterwards."""
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    code = (
        "import sys\n"
        "from chatbot_cli.cli.serve import _migrate\n"
        "from chatbot_cli.config import Settings\n"
        f"_migrate(Settings(database_url={url!r}))\n"
        "assert 'alembic' not in sys.modules, 'alembic was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    current = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "db", "current", "--json"],
        env={**os.environ, "CHATBOT_DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(current)["pending"] is False


def test_uvicorn_still_replays_signals_from_captured_signals() -> None:
    """serve's Server clears uvicorn's private `_captured_signals` so a clean shutdown is not
    re-raised as the signal. If uvicorn renames it or stops replaying from it, this fails.
    Runs in a child: `handle_exit` in this process would set sse-starlette's process-wide
    shutdown flag and end every later in-process stream."""
    code = (
        "import inspect, signal, uvicorn\n"
        "plain = uvicorn.Server(uvicorn.Config(app=None))\n"
        "assert plain._captured_signals == []\n"
        "plain.handle_exit(signal.SIGTERM, None)\n"
        "assert plain._captured_signals == [signal.SIGTERM]\n"
        "assert 'self._captured_signals' in inspect.getsource(uvicorn.Server.capture_signals)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "ok"), out.stderr


def test_handled_signal_is_not_re_raised_after_shutdown() -> None:
    # In a child: if the signal were replayed, SIGTERM would kill it before it prints.
    code = (
        "import signal, uvicorn\n"
        "from chatbot_cli.cli.serve import _Server\n"
        "server = _Server(uvicorn.Config(app=None))\n"
        "with server.capture_signals():\n"
        "    server.handle_exit(signal.SIGTERM, None)\n"
        "assert server.should_exit and server.signals_seen == {signal.SIGTERM}\n"
        "print('survived')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "survived"), out.stderr
