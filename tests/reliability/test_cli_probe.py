"""The CLI probed as a new user and as an attacker would (issue 22): a broken config file, the
modes of the files it leaves behind, bad flags and ids. Each command runs as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def chatbot(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_cli", *args],
        env=env or dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


# --- item 4: a typo in the config file ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["todo", "list"],
        ["chat", "hi"],
        ["serve"],
        ["keys", "list"],
        ["config", "show"],
        ["config", "set", "port", "9000"],
        ["config", "unset", "port"],
        ["models", "list"],
    ],
    ids=" ".join,
)
def test_a_typo_in_the_config_file_is_one_line_naming_file_line_and_column(
    isolated_env: Path, args: list[str]
) -> None:
    config = Path(os.environ["CHATBOT_CONFIG"])
    config.write_text("port = 8123\nthis is = not toml [\n")
    err = assert_one_line(chatbot(*args), 2)
    assert f"{config}:2:6: invalid TOML" in err


# --- item 5: who may read the files ---------------------------------------------------------


def test_data_files_are_private_under_umask_022(tiny_model: Path, tmp_path: Path) -> None:
    """Under the usual umask 022, the server's database (every owner's todos, the key hashes)
    with its -wal and -shm, the conversation log and the REPL's history (the user's prompts)
    are 0600 in a 0700 data dir."""
    import stat

    from tests.cli.test_chat_tty import finish, send, spawn
    from tests.live import LiveServer

    old = os.umask(0o022)
    try:
        server = LiveServer(home=tmp_path / "home", model=tiny_model).start()
        try:
            assert chatbot("todo", "add", "secret plans", env=server.env).returncode == 0
            assert chatbot("keys", "create", "bob", env=server.env).returncode == 0
            child = spawn(server.env, "--max-tokens", "4")
            send(child, "my private question")
            send(child, "/exit")
            finish(child)
            assert child.exitstatus == 0
            data = tmp_path / "home" / "data"
            names = {p.name for p in data.iterdir()}
            assert {"chatbot.db", "chatbot.db-wal", "chatbot.db-shm", "chat_history"} <= names
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
        finally:
            server.stop()
    finally:
        os.umask(old)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert modes == dict.fromkeys(modes, 0o600)


# --- item 11: small CLI faults --------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["chat", "--url", "notaurl", "hi"],
        ["--url", "notaurl", "todo", "list"],
        ["--url", "ftp://host", "todo", "list"],
        ["chat", "--url", "http://", "hi"],
        ["keys", "create", "bad name!"],
        ["keys", "create", "default"],
    ],
    ids=" ".join,
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    assert_one_line(chatbot(*args), 2)


def test_input_the_server_refuses_exits_2() -> None:
    from tests.cli.test_chat_fakeserver import FakeServer, error_json

    server = FakeServer()
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        server.responders.append(error_json(400, "temperature must be at most 2"))
        env = {**os.environ, "CHATBOT_URL": server.url, "CHATBOT_API_KEY": "sk-fake"}
        err = assert_one_line(chatbot("chat", "--temperature", "5", "hi", env=env), 2)
        assert "temperature" in err
    finally:
        server.shutdown()
        server.server_close()


def test_busy_port_is_one_line_exit_2(tiny_model: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        proc = chatbot("serve", "--port", port, "--model", str(tiny_model))
    err = assert_one_line(proc, 2)
    assert f"127.0.0.1:{port}" in err and "serving on" not in proc.stderr


def test_ipv6_banner_has_brackets(tmp_path: Path) -> None:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    args = ["serve", "--engine", "none", "--host", "::1", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot_cli", *args], stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "serving on" in line or len(lines) > 20:
                break
    finally:
        proc.kill()
        proc.wait()
    assert f"chatbot serving on http://[::1]:{port} (docs at /docs)\n" in lines, lines


def test_todo_ids_all_or_nothing_and_each_once(live_server: object) -> None:
    import json

    env = live_server.env  # type: ignore[attr-defined]
    first = json.loads(chatbot("todo", "add", "one", "--json", env=env).stdout)["id"]
    second = json.loads(chatbot("todo", "add", "two", "--json", env=env).stdout)["id"]
    proc = chatbot("todo", "done", str(first), str(first), "999999", str(second), env=env)
    assert_one_line(proc, 5)
    assert proc.stdout == "" and "nothing changed" in proc.stderr
    listed = json.loads(chatbot("todo", "list", "--json", env=env).stdout)
    assert not any(t["completed"] for t in listed)  # neither 1 nor 4 was changed
    proc = chatbot("todo", "done", str(first), str(first), str(second), env=env)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 2  # each printed once


def test_the_server_log_has_only_formatted_lines(start_server: object) -> None:
    """llama.cpp's own lines (`E srv send_error…`, load-time retries) never reach the log raw:
    every line is ours, `date time LEVEL logger: message` (issue 22, item 11)."""
    import re

    import httpx

    server = start_server(extra_args=["--n-ctx", "256", "--parallel", "1"])  # type: ignore[operator]
    too_long = {"model": "default", "messages": [{"role": "user", "content": "hello " * 600}]}
    response = httpx.post(
        server.url + "/v1/chat/completions", json=too_long, headers=server.headers, timeout=60
    )
    assert response.status_code == 400
    server.stop()
    ours = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
    lines = server.log().splitlines()
    assert lines[0].startswith("chatbot serving on ")
    raw = [line for line in lines[1:] if not ours.match(line)]
    assert raw == [], raw
