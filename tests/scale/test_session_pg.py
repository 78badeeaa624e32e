"""`Database` on PostgreSQL: pool options, a lost connection retried once, an unreachable
server as a 503-class error, and migrations serialised between processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from chatbot_cli.config import load_settings
from chatbot_cli.db.session import Database, DatabaseUnavailable, PoolOptions
from chatbot_cli.db.todos import create_todo, list_todos
from tests.scale.pgcluster import Cluster, run_admin


def run(url: str, fn: Callable[[Database], Any], pool: PoolOptions | None = None) -> Any:
    async def main() -> Any:
        async with Database(url, pool) as db:
            return await fn(db)

    return asyncio.run(main())


def test_pool_options_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_DB_POOL_SIZE", "3")
    monkeypatch.setenv("CHATBOT_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("CHATBOT_DB_POOL_TIMEOUT", "1.5")
    monkeypatch.setenv("CHATBOT_DB_CONNECT_TIMEOUT", "2")
    expected = PoolOptions(size=3, max_overflow=0, timeout=1.5, connect_timeout=2.0)
    assert PoolOptions.from_settings(load_settings()) == expected
    assert Database.from_settings(load_settings()).pool == expected


def test_configured_pool_is_used(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_DB_POOL_SIZE", "3")
    monkeypatch.setenv("CHATBOT_DB_MAX_OVERFLOW", "1")

    async def go(db: Database) -> str:
        assert db._async is not None
        return db._async.pool.status()

    status = run(pg_url, go, PoolOptions.from_settings(load_settings()))
    assert "Pool size: 3" in status and "Overflow: -3" in status


def test_exhausted_pool_is_a_503_not_a_hang(pg_url: str) -> None:
    async def go(db: Database) -> None:
        await db.upgrade()
        started = asyncio.Event()

        def hold(conn: Connection) -> None:
            conn.execute(text("SELECT pg_sleep(2)"))

        async def holder() -> None:
            started.set()
            await db.read(hold)

        task = asyncio.create_task(holder())
        await started.wait()
        await asyncio.sleep(0.3)
        with pytest.raises(DatabaseUnavailable) as info:
            await db.read(lambda conn: conn.execute(text("SELECT 1")).scalar())
        assert info.value.status == 503 and info.value.code == "database_unavailable"
        await task

    run(pg_url, go, PoolOptions(size=1, max_overflow=0, timeout=0.5))


def test_connection_killed_mid_read_is_retried(pg_url: str) -> None:
    calls: list[int] = []

    def read(conn: Connection) -> int:
        calls.append(1)
        if len(calls) == 1:
            conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return int(conn.execute(text("SELECT 7")).scalar_one())

    async def go(db: Database) -> int:
        return await db.read(read)

    assert run(pg_url, go) == 7
    assert len(calls) == 2


def test_connection_killed_mid_write_is_retried_without_applying_twice(pg_url: str) -> None:
    attempts: list[int] = []

    def write(conn: Connection) -> None:
        attempts.append(1)
        conn.execute(
            text(
                "INSERT INTO todos (title, completed, owner, created_at, updated_at) "
                "VALUES ('once', false, 'default', now(), now())"
            )
        )
        if len(attempts) == 1:
            # The backend dies after the insert, before the commit: the server rolls it back.
            conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    async def go(db: Database) -> list[str]:
        await db.upgrade()
        await db.write(write)
        return [t.title for t in await list_todos(db, "default")]

    assert run(pg_url, go) == ["once"]
    assert len(attempts) == 2


def test_pooled_connections_killed_between_requests(pg_url: str) -> None:
    """Every pooled connection terminated by the server (a restart, a failover, an idle
    timeout): the next requests succeed on fresh ones."""

    async def go(db: Database) -> int:
        await db.upgrade()
        await asyncio.gather(*(create_todo(db, "default", f"t{i}") for i in range(5)))
        name = pg_url.rsplit("/", 1)[1]
        killed = run_admin_async(
            pg_url,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
        )
        assert await killed >= 1
        await asyncio.gather(*(create_todo(db, "default", f"u{i}") for i in range(5)))
        return len(await list_todos(db, "default"))

    assert run(pg_url, go) == 10


async def run_admin_async(url: str, sql: str) -> Any:
    from tests.scale.pgcluster import admin

    return await admin(url, sql)


def test_unreachable_server_is_database_unavailable(pg_cluster: Cluster) -> None:
    async def go(db: Database) -> None:
        assert await db.ping()
        pg_cluster.stop()
        assert not await db.ping()
        with pytest.raises(DatabaseUnavailable):
            await db.read(lambda conn: conn.execute(text("SELECT 1")).scalar())
        pg_cluster.start()
        assert await db.ping()  # the pool recovers by itself: no reconnect call needed
        assert await db.read(lambda conn: conn.execute(text("SELECT 1")).scalar()) == 1

    run(pg_cluster.url, go, PoolOptions(connect_timeout=2))


def test_concurrent_upgrades_serialise(pg_url: str) -> None:
    """Replicas (or workers) starting at the same moment each run `upgrade`: one migrates, the
    others wait on the advisory lock and find the schema at head."""

    async def go() -> list[tuple[str | None, str | None]]:
        dbs = [Database(pg_url) for _ in range(4)]
        for db in dbs:
            await db.connect()
        try:
            await asyncio.gather(*(db.upgrade() for db in dbs))
            return [await db.current() for db in dbs]
        finally:
            for db in dbs:
                await db.dispose()

    revisions = asyncio.run(go())
    assert len(set(revisions)) == 1
    current, head = revisions[0]
    assert current == head is not None
    assert run_admin(pg_url, "SELECT count(*) FROM alembic_version") == 1
