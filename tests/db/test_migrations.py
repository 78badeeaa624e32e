from __future__ import annotations

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

        from chatbot_cli.db.models import Base

        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async def scenario(db: Database) -> tuple[list[object], set[str]]:
        changes = await db.read(diff)
        tables = await db.read(lambda c: set(inspect(c).get_table_names()))
        return changes, tables

    changes, tables = run(db_url, scenario)
    assert changes == []
    assert {"todos", "api_keys", "alembic_version"} <= tables
