"""The guard for db/todos.py's SQLite insert on the driver's cursor.

It skips SQLAlchemy's execution path and relies on how SQLAlchemy compiles and binds a Core insert
(`compiled.positiontup`, the types' bind processors, the pysqlite dialect's name, the pooled
connection's `driver_connection`). SQLAlchemy is pinned below its next major in pyproject.toml;
these tests fail when an upgrade changes any of that, instead of the fast path silently stopping
or writing something SQLAlchemy would not.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event

from chatbot_cli.db import models, todos
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
    stmt = todos._driver_insert(engine.dialect, models.todos, todos._VALUE_KEYS)
    assert (stmt.sql, stmt.params(VALUES)) == sent[0]
