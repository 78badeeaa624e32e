"""The guard for db/driver_insert.py: db/todos.py's SQLite insert on the driver's cursor.

It skips SQLAlchemy's execution path and relies on how SQLAlchemy compiles and binds a Core insert
(`compiled.positiontup`, the types' bind processors, the pysqlite dialect's name, the pooled
connection's `driver_connection`). SQLAlchemy is pinned below its next major in pyproject.toml;
these tests fail when an upgrade changes any of that, instead of the fast path silently stopping
or writing something SQLAlchemy would not.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event

from chatbot_cli.db import driver_insert, models, todos
from chatbot_cli.db.models import Base

VALUES = {
    "title": "guarded",
    "completed": False,
    "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "updated_at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    "owner": "alice",
    "priority": 0,
    "tags": "",
}


def test_driver_insert_sends_what_sqlalchemy_sends(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    Base.metadata.create_all(engine)
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, tuple(params)))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.begin() as conn:
            conn.execute(todos._INSERT, VALUES)
            assert len(sent) == 1
            # The conditions under which db/todos.py takes the driver path must still hold.
            assert conn.dialect.driver == "pysqlite"
            assert isinstance(conn.connection.driver_connection, sqlite3.Connection)
            new_id = todos._insert_todo(conn, VALUES, "alice")
            assert len(sent) == 1, "the insert went through SQLAlchemy, not the driver's cursor"
            assert new_id == 2
    finally:
        engine.dispose()
    stmt = driver_insert.driver_insert(engine.dialect, models.todos, todos._VALUE_KEYS)
    assert (stmt.sql, stmt.params(VALUES)) == sent[0]


def test_time_columns_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    """`_sqlite_stamp` replaces SQLAlchemy's bind processing of UTCDateTime on SQLite: for
    instants aware in any zone and naive, the same instant bound twice (its text is reused) and
    None, the driver insert sends exactly what a Core insert does."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    Base.metadata.create_all(engine)
    sent: list[tuple[Any, ...]] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(tuple(a[3])))
    same = datetime(2026, 3, 4, 5, 6, 7, 8000, tzinfo=UTC)
    instants = [
        (same, same),
        (datetime(2026, 3, 4, 5, 6, 7), datetime(1, 1, 1, 0, 0, 0, 1)),
        (
            datetime(2026, 3, 4, 23, 30, tzinfo=timezone(timedelta(hours=-3))),
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ),
    ]
    stmt = driver_insert.driver_insert(engine.dialect, models.todos, todos._VALUE_KEYS)
    try:
        with engine.begin() as conn:
            for created, updated in instants:
                values = {**VALUES, "created_at": created, "updated_at": updated}
                conn.execute(todos._INSERT, values)
                assert stmt.params(values) == sent[-1]
    finally:
        engine.dispose()
    process = driver_insert._processor(models.todos.c.due.type, engine.dialect)
    assert process is not None
    assert process(None) is None


def test_utcnow_is_now_to_the_millisecond() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    now = models.utcnow()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert now.microsecond % 1000 == 0
    assert before <= now <= after
