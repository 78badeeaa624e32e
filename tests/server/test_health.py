"""The /health database check: its own thread and connection (issue 22)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from chatbot_cli.db.session import Database, PoolOptions
from chatbot_cli.server.health import DatabaseCheck
from tests.db.pg import database_urls


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from database_urls(request.param, tmp_path)


def test_a_busy_loop_and_pool_do_not_make_the_database_down(url: str) -> None:
    async def scenario() -> bool:
        database = Database(url, PoolOptions(size=1, max_overflow=0, timeout=0.5))
        await database.connect()
        await database.upgrade()
        check = DatabaseCheck(database.url, timeout=1.0)
        held = asyncio.Event()
        release = asyncio.Event()

        async def hold() -> None:
            # Holds SQLite's readers / PostgreSQL's only pooled connection meanwhile.
            def sit(_conn: object) -> None:
                loop.call_soon_threadsafe(held.set)
                time.sleep(3)

            await database.read(sit)
            release.set()

        loop = asyncio.get_running_loop()
        holder = asyncio.create_task(hold())
        await held.wait()
        asking = asyncio.ensure_future(check.ok())
        await asyncio.sleep(0.05)
        time.sleep(1.5)  # the loop is busy for longer than the check's timeout
        ok = await asking
        await holder
        check.close()
        await database.dispose()
        return ok

    assert asyncio.run(scenario())


def test_an_unreachable_database_is_down(tmp_path: Path) -> None:
    async def scenario() -> list[bool]:
        missing = DatabaseCheck(f"sqlite+aiosqlite:///{tmp_path / 'nope.db'}", timeout=1)
        closed = DatabaseCheck("postgresql+asyncpg://postgres@127.0.0.1:1/x", timeout=1)
        try:
            return [await missing.ok(), await closed.ok()]
        finally:
            missing.close()
            closed.close()

    assert asyncio.run(scenario()) == [False, False]
