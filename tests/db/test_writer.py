"""SQLite's group-commit writer (`chatbot_cli/db/_writer.py`), on a real database file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, text

from chatbot_cli.db import todos
from chatbot_cli.db.session import Database
from tests.db.helpers import run


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'w.sqlite'}"


def test_concurrent_writes_share_commits(tmp_path: Path) -> None:
    async def scenario(db: Database) -> tuple[list[int], int]:
        assert db._sync is not None
        commits: list[int] = []
        event.listen(db._sync, "commit", lambda _conn: commits.append(1))
        made = await asyncio.gather(*(todos.create_todo(db, "me", f"t{i}") for i in range(20)))
        return [t.id for t in made], len(commits)

    ids, commits = run(_url(tmp_path), scenario)
    assert sorted(ids) == list(range(1, 21))
    assert 1 <= commits < 20  # the 20 writes of one loop turn went out in a few commits


def test_a_write_of_the_next_loop_turn_joins_the_commit(tmp_path: Path) -> None:
    # Under load the next turn's poll reads more requests: their writes should share the commit.
    async def scenario(db: Database) -> tuple[list[int], int]:
        assert db._sync is not None
        await todos.create_todo(db, "me", "warm-up")  # opens the writer's connection
        commits: list[int] = []
        event.listen(db._sync, "commit", lambda _conn: commits.append(1))
        first = asyncio.ensure_future(todos.create_todo(db, "me", "first"))
        await asyncio.sleep(0)  # the first write is asked for in this turn
        await asyncio.sleep(0)  # the loop's next turn
        second = await todos.create_todo(db, "me", "second")
        return [(await first).id, second.id], len(commits)

    ids, commits = run(_url(tmp_path), scenario)
    assert ids == [2, 3]
    assert commits == 1


def test_a_failing_write_fails_alone(tmp_path: Path) -> None:
    def bad(conn: Connection) -> None:
        conn.execute(text("INSERT INTO api_keys (name) VALUES (NULL)"))  # NOT NULL violated

    async def scenario(db: Database) -> tuple[list[object], int]:
        jobs = [todos.create_todo(db, "me", f"t{i}") for i in range(4)]
        outcomes = await asyncio.gather(*jobs[:2], db.write(bad), *jobs[2:], return_exceptions=True)
        rows = await db.read(lambda c: c.execute(text("SELECT count(*) FROM todos")).scalar_one())
        return list(outcomes), int(rows)

    outcomes, rows = run(_url(tmp_path), scenario)
    failed = [o for o in outcomes if isinstance(o, Exception)]
    assert len(failed) == 1 and "NOT NULL" in str(failed[0])
    assert rows == 4  # the other writes were committed, each exactly once


def test_write_waits_for_another_process_lock_without_blocking_the_loop(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock: the write waits for it on the writer thread
    while the event loop keeps running, then commits."""
    path = tmp_path / "w.sqlite"
    run(_url(tmp_path), lambda db: db.ping())  # creates and migrates the file
    other = sqlite3.connect(path, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release_at = time.monotonic() + 0.5
    threading.Timer(0.5, other.commit).start()

    async def scenario(db: Database) -> tuple[float, int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        made = await todos.create_todo(db, "me", "after the lock")
        task.cancel()
        return time.monotonic(), made.id, ticks

    done_at, todo_id, ticks = run(_url(tmp_path), scenario)
    other.close()
    assert todo_id == 1
    assert done_at >= release_at - 0.05  # it really waited for the lock
    assert ticks >= 20  # and the loop ran meanwhile


def test_writes_after_close_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(_url(tmp_path))
        await db.connect()
        await db.upgrade()
        await db.dispose()
        with pytest.raises(RuntimeError):
            await todos.create_todo(db, "me", "too late")

    asyncio.run(scenario())


def test_the_thread_checkpoints_the_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop's connection never checkpoints (autocheckpoint off, so no fsync on the loop);
    the writer thread runs a PASSIVE checkpoint every CHECKPOINT_EVERY commits instead."""
    from chatbot_cli.db import _writer

    monkeypatch.setattr(_writer, "CHECKPOINT_EVERY", 5)

    async def scenario(db: Database) -> list[tuple[str, str]]:
        assert db._sync is not None
        seen: list[tuple[str, str]] = []

        def record(conn: Connection, _cursor: object, statement: str, *_: object) -> None:
            if "checkpoint" in statement:
                seen.append((threading.current_thread().name, statement))

        event.listen(db._sync, "before_cursor_execute", record)
        for i in range(12):  # one at a time: one commit each
            await todos.create_todo(db, "me", f"t{i}")
        await asyncio.sleep(0.2)  # let the thread catch up
        return seen

    seen = run(_url(tmp_path), scenario)
    assert any(s == ("chatbot-db-writer", "PRAGMA wal_checkpoint(PASSIVE)") for s in seen), seen
    assert all(name == "chatbot-db-writer" for name, stmt in seen if "PASSIVE" in stmt)


def test_write_blocking_returns_after_the_commit(tmp_path: Path) -> None:
    """From a thread other than the loop's (the usage sink): the write is committed, and seen by
    another connection, as soon as the call returns; a failure is raised in that thread."""
    url = f"sqlite:///{tmp_path / 'wb.db'}"

    async def go(db: Database) -> None:
        def insert(conn: Connection) -> int:
            conn.execute(
                text(
                    "INSERT INTO api_keys (name, key_hash, created_at) "
                    "VALUES ('a', 'h', '2026-01-01')"
                )
            )
            time.sleep(0.05)  # a commit that comes late would be missed by the read below
            return 7

        def from_thread() -> tuple[int, list[str]]:
            got = db.write_blocking(insert)
            check = sqlite3.connect(tmp_path / "wb.db")
            try:
                return got, [r[0] for r in check.execute("SELECT name FROM api_keys")]
            finally:
                check.close()

        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, from_thread) == (7, ["a"])

        def bad(conn: Connection) -> None:
            conn.execute(text("SELECT * FROM no_such_table"))

        with pytest.raises(Exception, match="no_such_table"):
            await loop.run_in_executor(None, db.write_blocking, bad)

    run(url, go)
