from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from chatbot_cli.db import todos
from chatbot_cli.db.session import HEAD_REVISION, Database, PoolOptions, normalize_url
from chatbot_cli.errors import ConfigError
from tests.db.helpers import run


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgres://u@h:5433/db", "postgresql+asyncpg://u@h:5433/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://h/db", "postgresql+asyncpg://h/db"),
    ],
)
def test_normalize_url(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_sqlite_file_parent_created_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "chatbot.db"

    async def scenario(db: Database) -> dict[str, object]:
        names = ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        return await db.read(
            lambda conn: {name: conn.execute(text(f"PRAGMA {name}")).scalar() for name in names}
        )

    pragmas = run(f"sqlite:///{path}", scenario)
    assert path.exists()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 10000,
        "synchronous": 1,
    }


def test_ping(db_url: str) -> None:
    assert run(db_url, lambda db: db.ping()) is True

    async def closed() -> bool:
        db = Database("postgresql://nobody@127.0.0.1:1/none")
        await db.connect()
        try:
            return await db.ping()
        finally:
            await db.dispose()

    assert asyncio.run(closed()) is False


def test_unreachable_database_is_a_config_error() -> None:
    async def scenario() -> None:
        async with Database("postgresql://nobody@127.0.0.1:1/none") as db:
            await db.upgrade()

    with pytest.raises(ConfigError, match="Cannot open the database"):
        asyncio.run(scenario())


def test_upgrade_is_idempotent_and_current_is_head(db_url: str) -> None:
    async def scenario(db: Database) -> tuple[str | None, str | None]:
        await db.upgrade()
        return await db.current()

    current, head = run(db_url, scenario)
    assert current == head == HEAD_REVISION


@pytest.mark.parametrize("url", ["sqlite://", "sqlite+aiosqlite://"])
def test_memory_database_works(url: str) -> None:
    # sqlite+aiosqlite URLs are still accepted: they run on the stdlib driver like sqlite://.
    async def scenario(db: Database) -> int:
        await todos.create_todo(db, "o", "x")
        return len(await todos.list_todos(db, "o"))

    assert run(url, scenario) == 1


def test_pool_options_are_passed_never_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATBOT_DB_POOL_SIZE", "3")
    assert Database("postgresql://h/db").pool == PoolOptions()
    given = PoolOptions(size=2)
    assert Database("postgresql://h/db", given).pool is given


def test_committed_write_is_on_disk_before_close(tmp_path: Path) -> None:
    """What the server acknowledges is readable by another connection right away (kill -9 safe:
    nothing is held back in this process)."""
    path = tmp_path / "c.db"

    async def scenario(db: Database) -> None:
        made = await todos.create_todo(db, "o", "durable")
        other = sqlite3.connect(path)
        try:
            rows = other.execute("SELECT title FROM todos WHERE id = ?", (made.id,)).fetchall()
        finally:
            other.close()
        assert rows == [("durable",)]

    run(f"sqlite:///{path}", scenario)


def test_sqlite_files_and_dir_are_private_under_umask_022(tmp_path: Path) -> None:
    """The database holds every owner's todos and the key hashes (issue 22, item 5)."""
    import os
    import stat

    path = tmp_path / "data" / "chatbot.db"

    async def write(db: Database) -> None:
        await todos.create_todo(db, "default", "secret plans")
        # -wal and -shm exist while a connection is open.
        assert (tmp_path / "data" / "chatbot.db-wal").exists()

    old = os.umask(0o022)
    try:
        run(f"sqlite:///{path}", write)
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(os.stat(p).st_mode)

    assert mode(path.parent) == 0o700
    files = [p for p in path.parent.iterdir()]
    assert {p.name for p in files} >= {"chatbot.db"}
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
