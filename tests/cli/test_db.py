from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatbot_cli.cli.app import app
from chatbot_cli.db.session import HEAD_REVISION

runner = CliRunner()


def test_current_upgrade_current(isolated_env: Path) -> None:
    before = runner.invoke(app, ["db", "current", "--json"])
    assert before.exit_code == 0, before.stderr
    assert json.loads(before.stdout)["current"] is None
    assert json.loads(before.stdout)["pending"] is True

    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0, up.stderr
    assert f"from empty to {HEAD_REVISION}" in up.stdout
    assert (isolated_env / "data" / "chatbot.db").exists()

    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and f"already at revision {HEAD_REVISION}" in again.stdout

    now = runner.invoke(app, ["db", "current"])
    assert now.exit_code == 0 and now.stdout.strip() == f"{HEAD_REVISION} (head)"


def test_unreachable_database_is_one_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CHATBOT_DATABASE_URL", "postgresql://nobody:pw@127.0.0.1:1/none")
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Cannot open the database")
    assert "pw" not in result.stderr  # the password is redacted


def test_unknown_driver_is_a_clear_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CHATBOT_DATABASE_URL", "nosuchdb://x/y")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code != 0 and result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr


def revision_on_upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`db upgrade`, then `db revision`: the migration file it wrote. It writes into a copy of
    the migrations so the package is not modified by the test."""
    import chatbot_cli.db.session as session

    copy = tmp_path / "migrations"
    shutil.copytree(session.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(session, "MIGRATIONS_DIR", copy)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["db", "revision", "-m", "nothing new"])
    assert result.exit_code == 0, result.stderr
    written = Path(result.stdout.strip().splitlines()[-1])
    assert written.parent == copy / "versions" and written.exists()
    return written


def test_revision_autogenerate_finds_no_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`db revision` writes a migration; on an up-to-date database the diff is empty."""
    text = revision_on_upgraded(tmp_path, monkeypatch).read_text()
    assert f"down_revision: str | Sequence[str] | None = '{HEAD_REVISION}'" in text
    assert "op." not in text and "pass" in text  # models and migrations agree
