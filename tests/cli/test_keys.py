from __future__ import annotations

import json

from typer.testing import CliRunner

from chatbot_cli.cli.app import app

runner = CliRunner()


def test_create_prints_key_once_and_list_never_shows_it() -> None:
    created = runner.invoke(app, ["keys", "create", "alice"])
    assert created.exit_code == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("sk-chatbot-") and len(key) > 30

    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["alice"]
    assert set(rows[0]) == {"name", "created_at", "last_used_at", "revoked_at"}
    assert key not in listed.stdout

    plain = runner.invoke(app, ["keys", "list"])
    assert plain.stdout.startswith("alice\t") and key not in plain.stdout


def test_create_json_and_duplicates() -> None:
    created = runner.invoke(app, ["keys", "create", "bob", "--json"])
    data = json.loads(created.stdout)
    assert data["name"] == "bob" and data["key"].startswith("sk-chatbot-")
    dup = runner.invoke(app, ["keys", "create", "bob"])
    assert dup.exit_code == 2 and dup.stdout == ""
    assert dup.stderr.strip() == "Error: A key named 'bob' already exists; revoke it first."


def test_bad_and_reserved_names() -> None:
    for name in ("default", "has space", "-x", "x" * 65):
        result = runner.invoke(app, ["keys", "create", "--", name])
        assert result.exit_code == 2 and result.stdout == ""  # bad usage
        assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1


def test_revoke() -> None:
    runner.invoke(app, ["keys", "create", "carol"])
    first = runner.invoke(app, ["keys", "revoke", "carol"])
    assert first.exit_code == 0 and "Revoked key 'carol'" in first.stdout
    again = runner.invoke(app, ["keys", "revoke", "carol"])
    assert again.exit_code == 0 and "already revoked" in again.stdout
    rows = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    assert rows[0]["revoked_at"] is not None
    missing = runner.invoke(app, ["keys", "revoke", "nobody"])
    assert missing.exit_code == 5 and missing.stderr.strip() == "Error: No API key named 'nobody'."
    # A revoked name can get a fresh key (rotation).
    rotated = runner.invoke(app, ["keys", "create", "carol"])
    assert rotated.exit_code == 0
    assert (
        json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)[0]["revoked_at"] is None
    )
