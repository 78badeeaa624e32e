from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, text

from chatbot_cli.db.session import Database
from tests.db.helpers import run


def test_second_migration_moves_existing_todos_to_default(db_url: str) -> None:
    async def scenario(db: Database) -> list[tuple[str, str]]:
        await db.upgrade("0001")
        assert (await db.current())[0] == "0001"
        old = text(
            "INSERT INTO todos (title, completed, created_at, updated_at) "
            "VALUES ('old one', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        await db.write(lambda conn: conn.execute(old))
        await db.upgrade()
        rows = await db.read(
            lambda conn: conn.execute(text("SELECT title, owner FROM todos")).all()
        )
        return [(r.title, r.owner) for r in rows]

    assert run(db_url, scenario, upgrade=False) == [("old one", "default")]


def test_schema_matches_models(db_url: str) -> None:
    """Autogenerate finds nothing to do: the migrations and the models agree."""

    def diff(conn: Connection) -> list[object]:
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from chatbot_cli.db.models import Base, include_name

        # The full-text search objects are outside the models on purpose (models.SEARCH_OBJECTS).
        opts = {"compare_type": True, "include_name": include_name}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, Base.metadata))

    async def scenario(db: Database) -> tuple[list[object], set[str]]:
        changes = await db.read(diff)
        tables = await db.read(lambda c: set(inspect(c).get_table_names()))
        return changes, tables

    changes, tables = run(db_url, scenario)
    assert changes == []
    assert {"todos", "api_keys", "alembic_version"} <= tables


def test_head_revision_is_the_newest_migration() -> None:
    """`HEAD_REVISION` lets a database at head skip Alembic: it must move with the migrations."""
    from alembic.script import ScriptDirectory

    from chatbot_cli.db.session import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_at_head_follows_the_schema(db_url: str) -> None:
    async def scenario(db: Database) -> list[bool]:
        seen = [await db.at_head()]
        await db.upgrade("0001")
        seen.append(await db.at_head())
        await db.upgrade()
        seen.append(await db.at_head())
        return seen

    assert run(db_url, scenario, upgrade=False) == [False, False, True]


def test_upgrade_at_head_does_not_load_alembic(tmp_path: Path) -> None:
    """Alembic stays in memory once imported; a server on a migrated database never needs it."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run(url, lambda db: db.ping())
    code = (
        "import asyncio, sys\n"
        "from chatbot_cli.db.session import Database\n"
        "async def main():\n"
        f"    async with Database({url!r}) as db:\n"
        "        await db.upgrade()\n"
        "asyncio.run(main())\n"
        "assert 'alembic' not in sys.modules, 'alembic was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_search_index_has_no_pending_list(tmp_path: Path) -> None:
    """Migration 0006: on PostgreSQL the GIN index takes new messages directly, so no search
    reads through a pending list (or is planned as a scan of every message because of one)."""
    from tests.db.pg import database_urls

    async def scenario(db: Database) -> Any:
        sql = "SELECT reloptions FROM pg_class WHERE relname = 'ix_chat_messages_search'"
        return await db.read(lambda conn: conn.execute(text(sql)).scalar())

    for url in database_urls("postgresql", tmp_path):
        assert run(url, scenario) == ["fastupdate=off"]
