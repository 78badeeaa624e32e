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


def test_limit_set_show_and_clear() -> None:
    runner.invoke(app, ["keys", "create", "dora"])
    set_ = runner.invoke(app, ["keys", "limit", "dora", "--rpm", "60", "--concurrent", "2"])
    assert set_.exit_code == 0, set_.stderr
    assert set_.stdout.strip() == "Key 'dora': 60 requests/min, 2 concurrent."
    more = runner.invoke(app, ["keys", "limit", "dora", "--tpm", "1000", "--json"])
    assert json.loads(more.stdout) == {
        "name": "dora",
        "rpm": 60,
        "tpm": 1000,
        "tokens_per_day": None,
        "concurrent": 2,
    }
    shown = runner.invoke(app, ["keys", "limit", "dora"])
    assert shown.stdout.strip() == "Key 'dora': 60 requests/min, 1000 tokens/min, 2 concurrent."
    cleared = runner.invoke(app, ["keys", "limit", "dora", "--clear"])
    assert cleared.exit_code == 0 and cleared.stdout.strip() == "Key 'dora': no limits."


def test_limit_bad_values_and_unknown_key() -> None:
    runner.invoke(app, ["keys", "create", "eve"])
    for option, value in [
        ("--rpm", "0"),
        ("--tpm", "-5"),
        ("--tokens-per-day", "lots"),
        ("--concurrent", "1.5"),
        ("--rpm", ""),
        ("--rpm", "99999999999"),
        ("--tpm", "\u00b2"),  # isdigit() but not int(): was a traceback
        ("--rpm", "\u2460"),
        ("--concurrent", "\u0663"),  # an Arabic-Indic 3: not a number the CLI shows back
    ]:
        result = runner.invoke(app, ["keys", "limit", "eve", f"{option}={value}"])
        assert result.exit_code == 2, (option, value, result.stdout)
        assert result.stdout == "" and len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith(f"Error: {option} ")
    both = runner.invoke(app, ["keys", "limit", "eve", "--clear", "--rpm", "3"])
    assert both.exit_code == 2 and len(both.stderr.splitlines()) == 1
    missing = runner.invoke(app, ["keys", "limit", "nobody", "--rpm", "3"])
    assert missing.exit_code == 5 and missing.stderr.strip() == "Error: No API key named 'nobody'."
    # Nothing was changed by the refused commands.
    assert runner.invoke(app, ["keys", "limit", "eve"]).stdout.strip() == "Key 'eve': no limits."


def test_usage_report_and_bad_input() -> None:
    runner.invoke(app, ["keys", "create", "fay"])
    empty = runner.invoke(app, ["keys", "usage", "--json"])
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    assert runner.invoke(app, ["keys", "usage", "fay"]).exit_code == 0
    missing = runner.invoke(app, ["keys", "usage", "nobody"])
    assert missing.exit_code == 5 and missing.stderr.strip() == "Error: No API key named 'nobody'."
    for args in (["--since", "soon"], ["--by", "week"], ["--since", "-3d"], ["--since", "999999w"]):
        bad = runner.invoke(app, ["keys", "usage", *args])
        assert bad.exit_code == 2 and len(bad.stderr.splitlines()) == 1, args
