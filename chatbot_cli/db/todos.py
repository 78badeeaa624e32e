"""Writing todos, always scoped to one owner; each change also writes its undo journal row
(db/journal.py) in the same transaction.

Each write is one short transaction: a mutation costs a few statements and one commit. Update and
delete return the row with RETURNING; a title-only create needs no RETURNING (every column but the
id is known before the write), and on SQLite it runs SQLAlchemy's compiled inserts of the todo and
its journal row on the driver's cursor (db/driver_insert.py). Reading lives in db/todo_query.py and
the record and its rules in db/todo_record.py; both are re-exported here, where callers have always
found them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from chatbot_cli.db import journal
from chatbot_cli.db.driver_insert import driver_insert
from chatbot_cli.db.models import todo_journal, todo_tags, todos, utcnow
from chatbot_cli.db.session import Database
from chatbot_cli.db.todo_query import get_todo, list_todo_rows, list_todos
from chatbot_cli.db.todo_record import (
    COLUMNS,
    MAX_SEARCH_CHARS,
    MAX_TITLE_CHARS,
    TodoRecord,
    check_text,
    clean_due,
    clean_notes,
    clean_priority,
    clean_project,
    clean_tags,
    clean_title,
    clean_uid,
    record,
)
from chatbot_cli.errors import InvalidRequest

__all__ = [
    "MAX_SEARCH_CHARS",
    "MAX_TITLE_CHARS",
    "TodoRecord",
    "check_text",
    "clean_title",
    "get_todo",
    "list_todo_rows",
    "list_todos",
]

MAX_IMPORT_ITEMS = 5000
# The fields `update_todo` and `create_todo` take besides title and completion.
FIELDS = ("due", "priority", "project", "notes", "tags")


class InvalidImportItem(InvalidRequest):
    """One item of an import is refused; `item` is its index (0-based) in the request."""

    def __init__(self, item: int, message: str, param: str | None) -> None:
        self.item = item  # before super().__init__: an error is frozen once built
        super().__init__(f"Item {item + 1}: {message}", param=param)


# Built once, so SQLAlchemy only binds the values: building the statement per call cost more than
# SQLite's own work for it. No RETURNING: every column but the id is known before the write, so
# reading the row back (a result set, two timestamp parses) would be work for nothing. Figures
# in docs/design.md, "Database".
_INSERT = insert(todos)
_VALUE_KEYS = ("title", "completed", "created_at", "updated_at", "owner", "priority", "tags")
_JOURNAL_KEYS = ("owner", "action", "created_at", "before")


def _insert_todo(conn: Connection, values: dict[str, Any], owner: str) -> int:
    """The title-only create, and its journal row."""
    driver = conn.connection.driver_connection
    if conn.dialect.driver == "pysqlite" and isinstance(driver, sqlite3.Connection):
        stmt = driver_insert(conn.dialect, todos, _VALUE_KEYS)
        # Inside the transaction the writer opened on this connection: it commits or rolls back.
        new_id = int(driver.execute(stmt.sql, stmt.params(values)).lastrowid or 0)
        # The create's own instant: bound once more as the same object, so its text is reused.
        entry = journal.entry(owner, "add", created=(new_id,), at=values["created_at"])
        stmt = driver_insert(conn.dialect, todo_journal, _JOURNAL_KEYS)
        journal.prune(conn, owner, int(driver.execute(stmt.sql, stmt.params(entry)).lastrowid or 0))
        return new_id
    key = conn.execute(_INSERT, values).inserted_primary_key
    assert key is not None  # an INSERT always has one
    new_id = int(key[0])
    journal.write(conn, journal.entry(owner, "add", created=(new_id,)))
    return new_id


def _fields(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The stored values of the given optional fields (None clears one)."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(sorted(unknown))}.", param=None)
    values: dict[str, Any] = {}
    if "due" in changes:
        values["due"] = clean_due(changes["due"])
    if "priority" in changes:
        values["priority"] = clean_priority(changes["priority"])
    if "project" in changes:
        values["project"] = clean_project(changes["project"])
    if "notes" in changes:
        values["notes"] = clean_notes(changes["notes"])
    if "tags" in changes:
        values["tags"] = " ".join(clean_tags(changes["tags"]))
    return values


async def create_todo(
    db: Database, owner: str, title: str, fields: Mapping[str, Any] | None = None
) -> TodoRecord:
    """A new todo; `fields` may give any of FIELDS."""
    now = utcnow()
    title = clean_title(title)
    values: dict[str, Any] = {
        "title": title,
        "completed": False,
        "created_at": now,
        "updated_at": now,
        "owner": owner,
        "priority": 0,
        "tags": "",
    }
    extra = {k: v for k, v in _fields(fields).items() if v not in (None, "", 0)} if fields else None
    if not extra:
        new_id = await db.write(lambda conn: _insert_todo(conn, values, owner))
        # Exactly what a read returns: both databases keep utcnow()'s milliseconds as given.
        return TodoRecord(new_id, title, False, now, now, owner)
    values.update(extra)

    def run(conn: Connection) -> TodoRecord:
        row = conn.execute(insert(todos).values(**values).returning(*COLUMNS)).one()
        created = record(row)
        journal.set_tags(conn, owner, created.id, created.tags)
        journal.write(conn, journal.entry(owner, "add", created=(created.id,)))
        return created

    return await db.write(run)


def _action(values: dict[str, Any]) -> str:
    if set(values) == {"completed", "updated_at"}:
        return "done" if values["completed"] else "reopen"
    return "edit"


async def update_todo(
    db: Database,
    owner: str,
    todo_id: int,
    *,
    title: str | None = None,
    completed: bool | None = None,
    fields: Mapping[str, Any] | None = None,
) -> TodoRecord | None:
    """Change the given fields; None when the owner has no such todo."""
    values = _fields(fields or {})
    if title is not None:
        values["title"] = clean_title(title)
    if completed is not None:
        values["completed"] = completed
    if not values:
        raise InvalidRequest("Nothing to update: give at least one field to change.", param=None)
    values["updated_at"] = utcnow()
    where = (todos.c.id == todo_id, todos.c.owner == owner)

    def run(conn: Connection) -> TodoRecord | None:
        before = conn.execute(select(*COLUMNS).where(*where)).first()
        if before is None:
            return None
        row = conn.execute(update(todos).where(*where).values(**values).returning(*COLUMNS)).one()
        changed = record(row)
        if "tags" in values:
            journal.set_tags(conn, owner, todo_id, changed.tags)
        journal.write(conn, journal.entry(owner, _action(values), before=[record(before)]))
        return changed

    return await db.write(run)


async def delete_todo(db: Database, owner: str, todo_id: int) -> TodoRecord | None:
    """Delete and return the todo; None when the owner has no such todo."""
    stmt = delete(todos).where(todos.c.id == todo_id, todos.c.owner == owner).returning(*COLUMNS)

    def run(conn: Connection) -> TodoRecord | None:
        row = conn.execute(stmt).first()
        if row is None:
            return None
        gone = record(row)
        journal.write(conn, journal.entry(owner, "rm", before=[gone]))
        return gone

    return await db.write(run)


async def clear_completed(db: Database, owner: str) -> int:
    """Delete the owner's completed todos; returns how many went."""
    stmt = (
        delete(todos).where(todos.c.owner == owner, todos.c.completed.is_(True)).returning(*COLUMNS)
    )

    def run(conn: Connection) -> int:
        gone = [record(r) for r in conn.execute(stmt).all()]
        if gone:
            journal.write(conn, journal.entry(owner, "clear", before=gone))
        return len(gone)

    return await db.write(run)


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: list[TodoRecord]
    skipped: int  # items already there (same uid, or the same todo exported from here)


def _import_values(owner: str, item: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    fields = {k: item[k] for k in FIELDS if k in item}
    values = _fields(fields)
    created = clean_due(item.get("created_at")) or now
    completed = item.get("completed", False)
    if not isinstance(completed, bool):
        raise InvalidRequest("'completed' must be true or false.", param="completed")
    return {
        "title": clean_title(item.get("title") or ""),
        "completed": completed,
        "created_at": created,
        "updated_at": clean_due(item.get("updated_at")) or created,
        "owner": owner,
        "uid": clean_uid(item.get("uid")),
        "due": values.get("due"),
        "priority": values.get("priority", 0),
        "project": values.get("project"),
        "notes": values.get("notes"),
        "tags": values.get("tags", ""),
    }


def _already_there(
    conn: Connection, owner: str, rows: list[tuple[int, dict[str, Any]]]
) -> set[int]:
    """Indexes of items the owner has already: by uid, or by id and creation time (a todo of
    this database exported and imported back)."""
    uids = {v["uid"] for _, v in rows if v["uid"]}
    have_uids: set[str] = set()
    for chunk in _chunks(sorted(uids)):
        have_uids.update(
            conn.execute(
                select(todos.c.uid).where(todos.c.owner == owner, todos.c.uid.in_(chunk))
            ).scalars()
        )
    origin = [(v["source_id"], i) for i, v in rows if v.get("source_id") is not None]
    have_ids: set[tuple[int, datetime]] = set()
    for chunk in _chunks([o[0] for o in origin]):
        found = conn.execute(
            select(todos.c.id, todos.c.created_at).where(
                todos.c.owner == owner, todos.c.id.in_(chunk)
            )
        ).all()
        have_ids.update((r.id, r.created_at) for r in found)
    return {
        i
        for i, v in rows
        if (v["uid"] and v["uid"] in have_uids) or (v.get("source_id"), v["created_at"]) in have_ids
    }


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


async def import_todos(
    db: Database, owner: str, items: Sequence[Mapping[str, Any]]
) -> ImportResult:
    """Create every item, or none: the first bad item refuses the whole import
    (`InvalidImportItem`). Items already there are skipped, so importing twice creates nothing
    twice."""
    if len(items) > MAX_IMPORT_ITEMS:
        raise InvalidRequest(
            f"At most {MAX_IMPORT_ITEMS} todos an import; split the file.", param="items"
        )
    now = utcnow()
    rows: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        try:
            values = _import_values(owner, item, now)
        except InvalidRequest as exc:
            raise InvalidImportItem(i, exc.message, exc.param) from None
        if values["uid"] and values["uid"] in seen:
            continue  # the same todo twice in one file
        seen.add(values["uid"] or "")
        source = item.get("id")
        values["source_id"] = source if isinstance(source, int) else None
        rows.append((i, values))

    def run(conn: Connection) -> ImportResult:
        skip = _already_there(conn, owner, rows)
        new = [{k: v for k, v in values.items() if k != "source_id"} for i, values in rows]
        new = [v for (i, _), v in zip(rows, new, strict=True) if i not in skip]
        created: list[TodoRecord] = []
        for chunk in _chunks(new):
            result = conn.execute(
                insert(todos).returning(*COLUMNS, sort_by_parameter_order=True), chunk
            )
            created += [record(r) for r in result.all()]
        tags = [{"todo_id": t.id, "tag": g, "owner": owner} for t in created for g in t.tags]
        for chunk in _chunks(tags):
            conn.execute(insert(todo_tags), chunk)
        if created:
            journal.write(conn, journal.entry(owner, "import", created=[t.id for t in created]))
        return ImportResult(created, len(rows) - len(new) + (len(items) - len(rows)))

    return await db.write(run)
