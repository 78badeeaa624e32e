"""Todo queries, always scoped to one owner.

Each write is one statement in one short transaction, with no read-before-write round trip: a
mutation costs one statement and one commit. Update and delete return the row with RETURNING;
create needs no RETURNING (every column but the id is known before the write), and on SQLite it
runs SQLAlchemy's compiled insert on the driver's cursor (`_DriverInsert`).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect, delete, func, insert, select, update
from sqlalchemy.types import TypeEngine

from chatbot_cli.db.models import todos, utcnow
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest

MAX_TITLE_CHARS = 500
MAX_SEARCH_CHARS = 500

_COLUMNS = (
    todos.c.id,
    todos.c.title,
    todos.c.completed,
    todos.c.created_at,
    todos.c.updated_at,
    todos.c.owner,
)


@dataclass(frozen=True, slots=True)
class TodoRecord:
    id: int
    title: str
    completed: bool
    created_at: datetime
    updated_at: datetime
    owner: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "completed": self.completed,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }


def _record(row: Any) -> TodoRecord:
    return TodoRecord(
        id=row.id,
        title=row.title,
        completed=bool(row.completed),
        created_at=row.created_at,
        updated_at=row.updated_at,
        owner=row.owner,
    )


# One regex pass instead of a Python loop over the characters. Unicode's Cc category is exactly
# these: C0 controls, DEL and C1 controls (tests/db/test_todos.py checks it against unicodedata).
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_text(value: str, param: str) -> None:
    """Reject what no database stores faithfully: NUL and lone UTF-16 surrogates."""
    if "\x00" in value:
        raise InvalidRequest(f"'{param}' must not contain NUL characters.", param=param)
    if _SURROGATE.search(value):
        raise InvalidRequest(
            f"'{param}' contains an invalid Unicode surrogate character.", param=param
        )


def clean_title(title: str) -> str:
    """The title as stored: trimmed, non-empty, one line, at most MAX_TITLE_CHARS characters."""
    check_text(title, "title")
    title = title.strip()
    if not title:
        raise InvalidRequest("Title must not be empty.", param="title")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidRequest(
            f"Title is {len(title)} characters long; the limit is {MAX_TITLE_CHARS}.",
            param="title",
        )
    if _CONTROL.search(title):
        raise InvalidRequest(
            "Title must be a single line without control characters.", param="title"
        )
    return title


def _check_page(limit: int | None, offset: int) -> None:
    if limit is not None and limit < 0:
        raise InvalidRequest("'limit' must be zero or more.", param="limit")
    if offset < 0:
        raise InvalidRequest("'offset' must be zero or more.", param="offset")


async def list_todos(
    db: Database,
    owner: str,
    *,
    completed: bool | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[TodoRecord]:
    """The owner's todos, newest first."""
    _check_page(limit, offset)
    stmt = select(*_COLUMNS).where(todos.c.owner == owner)
    if completed is not None:
        stmt = stmt.where(todos.c.completed == completed)
    if search:
        check_text(search, "search")
        if len(search) > MAX_SEARCH_CHARS:
            raise InvalidRequest(
                f"'search' is longer than {MAX_SEARCH_CHARS} characters.", param="search"
            )
        stmt = stmt.where(func.lower(todos.c.title).contains(search.lower(), autoescape=True))
    # Ids only grow, so they order by creation even when timestamps tie.
    stmt = stmt.order_by(todos.c.id.desc()).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = await db.read(lambda conn: conn.execute(stmt).all())
    return [_record(r) for r in rows]


async def get_todo(db: Database, owner: str, todo_id: int) -> TodoRecord | None:
    stmt = select(*_COLUMNS).where(todos.c.id == todo_id, todos.c.owner == owner)
    row = await db.read(lambda conn: conn.execute(stmt).first())
    return _record(row) if row is not None else None


# Built once, so SQLAlchemy only binds the values: building the statement per call cost more than
# SQLite's own work for it. No RETURNING: every column but the id is known before the write, so
# reading the row back (a result set, two timestamp parses) would be work for nothing. Figures
# in docs/design.md, "Database".
_INSERT = insert(todos)
_VALUE_KEYS = ("title", "completed", "created_at", "updated_at", "owner")


@dataclass(frozen=True, slots=True)
class _DriverInsert:
    """`_INSERT` compiled once for one dialect, with its columns' own bind processors, to run on
    the driver's cursor: on SQLite's single writer, SQLAlchemy's per-execution work (execution
    context, parameter processing, result set) was a large share of a create's cost. The SQL and
    the stored values are SQLAlchemy's own: relying on how it compiles and binds is why SQLAlchemy
    is pinned below its next major, and tests/db/test_driver_insert.py fails if that changes."""

    sql: str
    keys: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def params(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            values[k] if p is None else p(values[k])
            for k, p in zip(self.keys, self.processors, strict=True)
        )


_driver_inserts: WeakKeyDictionary[Dialect, _DriverInsert] = WeakKeyDictionary()


def _driver_insert(dialect: Dialect) -> _DriverInsert:
    found = _driver_inserts.get(dialect)
    if found is None:
        compiled = _INSERT.compile(dialect=dialect, column_keys=list(_VALUE_KEYS))
        keys = tuple(compiled.positiontup or ())
        found = _DriverInsert(
            str(compiled), keys, tuple(_processor(todos.c[k].type, dialect) for k in keys)
        )
        _driver_inserts[dialect] = found
    return found


def _processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    # The dialect's own implementation (SQLite's DATETIME writes microseconds even when zero),
    # under our TypeDecorator's conversion: what SQLAlchemy runs for a Core insert.
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _insert_todo(conn: Connection, values: dict[str, Any]) -> int:
    driver = conn.connection.driver_connection
    if conn.dialect.driver == "pysqlite" and isinstance(driver, sqlite3.Connection):
        stmt = _driver_insert(conn.dialect)
        # Inside the transaction the writer opened on this connection: it commits or rolls back.
        return int(driver.execute(stmt.sql, stmt.params(values)).lastrowid or 0)
    key = conn.execute(_INSERT, values).inserted_primary_key
    assert key is not None  # an INSERT always has one
    return int(key[0])


async def create_todo(db: Database, owner: str, title: str) -> TodoRecord:
    now = utcnow()
    title = clean_title(title)
    values = {
        "title": title,
        "completed": False,
        "created_at": now,
        "updated_at": now,
        "owner": owner,
    }
    new_id = await db.write(lambda conn: _insert_todo(conn, values))
    # Exactly what a read returns: timestamps keep microseconds on both databases.
    return TodoRecord(new_id, title, False, now, now, owner)


async def update_todo(
    db: Database,
    owner: str,
    todo_id: int,
    *,
    title: str | None = None,
    completed: bool | None = None,
) -> TodoRecord | None:
    """Change the given fields; None when the owner has no such todo."""
    values: dict[str, Any] = {}
    if title is not None:
        values["title"] = clean_title(title)
    if completed is not None:
        values["completed"] = completed
    if not values:
        raise InvalidRequest("Nothing to update: give a title or completed.", param=None)
    values["updated_at"] = utcnow()
    stmt = (
        update(todos)
        .where(todos.c.id == todo_id, todos.c.owner == owner)
        .values(**values)
        .returning(*_COLUMNS)
    )
    row = await db.write(lambda conn: conn.execute(stmt).first())
    return _record(row) if row is not None else None


async def delete_todo(db: Database, owner: str, todo_id: int) -> TodoRecord | None:
    """Delete and return the todo; None when the owner has no such todo."""
    stmt = delete(todos).where(todos.c.id == todo_id, todos.c.owner == owner).returning(*_COLUMNS)
    row = await db.write(lambda conn: conn.execute(stmt).first())
    return _record(row) if row is not None else None


async def clear_completed(db: Database, owner: str) -> int:
    """Delete the owner's completed todos; returns how many went."""
    stmt = delete(todos).where(todos.c.owner == owner, todos.c.completed.is_(True))
    return await db.write(lambda conn: int(conn.execute(stmt).rowcount or 0))
