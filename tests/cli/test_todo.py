"""`chatbot todo` end to end: a real server, the CLI as a subprocess, stdout and stderr apart."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest

from tests.live import LiveServer, free_port

pytestmark = pytest.mark.e2e


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in-process (fast) with stdout and stderr captured apart; a few tests below
    use real subprocesses where the process boundary matters."""
    from typer.testing import CliRunner

    from chatbot_cli.cli.app import app

    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def subprocess_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(env: dict[str, str], *args: str) -> str:
    result = cli(env, *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_import_stays_light(isolated_env: Any) -> None:
    """`chatbot todo` runs in shell loops: no web framework, ORM or engine on its import path."""
    code = (
        "import sys\n"
        "sys.argv = ['chatbot', '--url', 'http://127.0.0.1:9', 'todo', 'list']\n"
        "from chatbot_cli.cli.app import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "heavy = ('fastapi', 'starlette', 'sqlalchemy', 'alembic', 'strawberry', 'xllamacpp',\n"
        "         'uvicorn', 'chatbot_cli.engine', 'chatbot_cli.db', 'chatbot_cli.server',\n"
        "         'chatbot_cli.graphql')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_unreachable_server(isolated_env: Any) -> None:
    import os

    env = {**os.environ, "CHATBOT_URL": f"http://127.0.0.1:{free_port()}"}
    for args in (["todo", "list"], ["todo", "add", "x"], ["todo", "done", "1"]):
        result = subprocess_cli(env, *args)
        assert result.returncode == 3
        line = one_error_line(result)
        assert "Cannot reach the chatbot server" in line and "chatbot serve" in line


def test_every_command_plain_and_json(live_server: LiveServer) -> None:
    env = live_server.env

    # add: plain is one tab-separated line; --json is the created object.
    real = subprocess_cli(env, "todo", "add", "Buy milk")
    assert real.returncode == 0 and real.stderr == ""
    line = real.stdout.rstrip("\n")
    first_id, status, title, created, due, priority, tags, project = line.split("\t")
    assert (status, title) == ("pending", "Buy milk")
    assert (due, priority, tags, project) == ("", "", "", "")
    datetime.fromisoformat(created)
    added = json.loads(ok(env, "todo", "add", "  Write code  ", "--json"))
    assert {"id", "title", "completed", "createdAt"} <= set(added)
    assert added["title"] == "Write code" and added["completed"] is False
    emoji = json.loads(ok(env, "todo", "add", "שלום 🎉 [b]x[/b]", "--json"))
    assert emoji["title"] == "שלום 🎉 [b]x[/b]"

    # list: by creation, newest first, plain and JSON.
    rows = [r.split("\t") for r in ok(env, "todo", "list", "--sort", "created").splitlines()]
    assert [r[0] for r in rows] == [str(emoji["id"]), str(added["id"]), first_id]
    assert all(len(r) == 8 for r in rows)
    listed = json.loads(ok(env, "todo", "list", "--sort", "created", "--json"))
    assert [t["id"] for t in listed] == [emoji["id"], added["id"], int(first_id)]

    # done / undo / edit, with filters.
    assert ok(env, "todo", "done", first_id, str(added["id"])).count("\tdone\t") == 2
    assert ok(env, "todo", "undo", str(added["id"])).split("\t")[1] == "pending"
    done = json.loads(ok(env, "todo", "list", "--done", "--json"))
    assert [t["id"] for t in done] == [int(first_id)]
    pending = json.loads(ok(env, "todo", "list", "--pending", "--json"))
    assert {t["id"] for t in pending} == {added["id"], emoji["id"]}
    assert len(json.loads(ok(env, "todo", "list", "--all", "--json"))) == 3
    assert [t["id"] for t in json.loads(ok(env, "todo", "list", "-s", "WRITE", "--json"))] == [
        added["id"]
    ]
    assert len(json.loads(ok(env, "todo", "list", "--limit", "1", "--json"))) == 1
    edited = json.loads(ok(env, "todo", "edit", str(added["id"]), "--title", "Edited", "--json"))
    assert edited["title"] == "Edited" and edited["id"] == added["id"]
    marked = json.loads(ok(env, "todo", "done", str(emoji["id"]), "--json"))
    assert [t["completed"] for t in marked] == [True]

    # clear removes the two completed ones; rm the last.
    assert json.loads(ok(env, "todo", "clear", "--json")) == {"deleted": 2}
    assert ok(env, "todo", "clear") == "Deleted 0 completed todos.\n"
    removed = json.loads(ok(env, "todo", "rm", str(added["id"]), "--json"))
    assert [t["id"] for t in removed] == [added["id"]]
    assert ok(env, "todo", "list") == ""
    assert json.loads(ok(env, "todo", "list", "--json")) == []


def test_errors_and_exit_codes(live_server: LiveServer) -> None:
    env = live_server.env
    kept = json.loads(ok(env, "todo", "add", "keep me", "--json"))

    for title, fragment in (("   ", "empty"), ("x" * 501, "500"), ("a\nb", "single line")):
        result = cli(env, "todo", "add", title)
        assert result.returncode == 2  # refused input: bad usage
        assert fragment in one_error_line(result)

    for args in (["done", "999"], ["undo", "999"], ["rm", "999"], ["edit", "999", "-t", "x"]):
        result = cli(env, "todo", *args)
        assert result.returncode == 5, args
        assert one_error_line(result).startswith("Error: Todo 999 not found"), args

    # A bad id among good ones: all or nothing, so nothing is done; a repeated id counts once.
    mixed = cli(env, "todo", "done", str(kept["id"]), str(kept["id"]), "999", "998")
    assert mixed.returncode == 5 and mixed.stdout == ""
    assert mixed.stderr.strip() == "Error: Todos 999, 998 not found; nothing changed."
    assert json.loads(ok(env, "todo", "list", "--json"))[0]["completed"] is False
    twice = cli(env, "todo", "done", str(kept["id"]), str(kept["id"]))
    assert twice.returncode == 0 and len(twice.stdout.splitlines()) == 1

    both = cli(env, "todo", "list", "--done", "--pending")
    assert both.returncode == 2 and "only one of" in one_error_line(both)

    wrong = subprocess_cli({**env, "CHATBOT_API_KEY": "sk-wrong"}, "todo", "list")
    assert wrong.returncode == 4
    assert "API key" in one_error_line(wrong)

    # On a terminal, list draws a table (rich), and a title is shown as typed, not as markup.
    import pexpect

    ok(env, "todo", "edit", str(kept["id"]), "--title", "[b]keep[/b] me")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "chatbot_cli", "todo", "list"],
        env=env,
        encoding="utf-8",
        dimensions=(24, 120),
        timeout=30,
    )
    screen = child.read()
    child.close()
    assert child.exitstatus == 0
    assert "ID" in screen and "Title" in screen and "[b]keep[/b] me" in screen

    # Nothing above wrote anything but the one todo (now done).
    assert [(t["id"], t["completed"]) for t in json.loads(ok(env, "todo", "list", "--json"))] == [
        (kept["id"], True)
    ]
