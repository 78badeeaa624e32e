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
