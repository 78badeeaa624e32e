"""`chatbot db` and `chatbot keys` on a PostgreSQL database (CHATBOT_DATABASE_URL): the commands
a team runs once against the shared database before starting replicas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chatbot_cli.cli.app import app
from tests.cli.test_db import revision_on_upgraded
from tests.scale.pgcluster import run_admin

runner = CliRunner()


@pytest.fixture(autouse=True)
def on_postgres(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CHATBOT_DATABASE_URL", pg_url)
    return pg_url


def test_upgrade_once_then_at_head(pg_url: str) -> None:
    before = json.loads(runner.invoke(app, ["db", "current", "--json"]).stdout)
    assert before["current"] is None and before["pending"] is True
    assert before["database"].startswith("postgresql+asyncpg://")

    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0, up.stderr
    assert "from empty to" in up.stdout
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and "already at revision" in again.stdout
    now = json.loads(runner.invoke(app, ["db", "current", "--json"]).stdout)
    assert now["pending"] is False and now["current"] == now["head"]
    tables = run_admin(
        pg_url,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
        "WHERE schemaname = 'public'",
    )
    from chatbot_cli.db.models import Base

    assert tables == ",".join(sorted({"alembic_version", *Base.metadata.tables}))


def test_models_and_migrations_agree_on_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = revision_on_upgraded(tmp_path, monkeypatch).read_text()
    assert "op." not in text and "pass" in text, text


def test_keys_on_the_shared_database(pg_url: str) -> None:
    created = runner.invoke(app, ["keys", "create", "dana", "--json"])
    assert created.exit_code == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    assert [k["name"] for k in listed] == ["dana"] and key not in json.dumps(listed)
    stored = run_admin(pg_url, "SELECT key_hash FROM api_keys WHERE name = 'dana'")
    assert stored and key not in str(stored)
    duplicate = runner.invoke(app, ["keys", "create", "dana"])
    assert duplicate.exit_code != 0 and duplicate.stderr.startswith("Error: ")
    assert runner.invoke(app, ["keys", "revoke", "dana"]).exit_code == 0
