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
