"""The undo journal: every change to an owner's todos writes one row, in the change's own
transaction, holding what it needs to be reverted: the ids it created, and the todos it changed
or deleted as they were before. `undo_last` reverts the newest row and deletes it, so successive
undos walk back through the last UNDO_DEPTH changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from chatbot_cli.db.models import todo_journal, todo_tags, todos, utcnow
from chatbot_cli.db.session import Database
from chatbot_cli.db.todo_record import COLUMNS, TodoRecord, record
from chatbot_cli.errors import NotFound

UNDO_DEPTH = 100
# Pruning is a DELETE with a subquery: run it on one journal row in this many, not on each.
PRUNE_EVERY = 64


@dataclass(frozen=True, slots=True)
class UndoResult:
    action: str
    restored: list[TodoRecord]  # todos put back as they were
    removed: list[int]  # ids of todos the change had created, now deleted


def image(todo: TodoRecord) -> dict[str, Any]:
    """A todo as the journal keeps it (JSON)."""
    return {
        "id": todo.id,
        "title": todo.title,
        "completed": todo.completed,
        "created_at": todo.created_at.isoformat(),
        "updated_at": todo.updated_at.isoformat(),
        "due": todo.due.isoformat() if todo.due else None,
        "priority": todo.priority,
        "project": todo.project,
        "notes": todo.notes,
        "tags": " ".join(todo.tags),
        "uid": todo.uid,
    }


# What `json.dumps(data, separators=(",", ":"), ensure_ascii=False)` uses, built once: with any
# non-default option json.dumps builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def entry(
    owner: str,
    action: str,
    *,
    created: Iterable[int] = (),
    before: Iterable[TodoRecord] = (),
    at: datetime | None = None,
) -> dict[str, Any]:
    """The values of one journal row; `at` is the change's time (now when not given)."""
    data = {"ids": list(created), "rows": [image(t) for t in before]}
    return {
        "owner": owner,
        "action": action,
        "created_at": utcnow() if at is None else at,
        "before": _ENCODER.encode(data),
    }


# Built once, the owner bound per call: building it and its cache key on every prune cost more
# than running it.
_OLDEST_KEPT = (
    select(todo_journal.c.id)
    .where(todo_journal.c.owner == bindparam("owner"))
    .order_by(todo_journal.c.id.desc())
    .offset(UNDO_DEPTH - 1)
    .limit(1)
    .scalar_subquery()
)
_PRUNE = delete(todo_journal).where(
    todo_journal.c.owner == bindparam("owner"), todo_journal.c.id < _OLDEST_KEPT
)


def prune(conn: Connection, owner: str, journal_id: int) -> None:
    """Keep the owner's newest UNDO_DEPTH entries (on one new entry in PRUNE_EVERY)."""
    if journal_id % PRUNE_EVERY:
        return
    conn.execute(_PRUNE, {"owner": owner})


def write(conn: Connection, values: dict[str, Any]) -> None:
    key = conn.execute(insert(todo_journal), values).inserted_primary_key
    assert key is not None  # an INSERT always has one
    prune(conn, values["owner"], int(key[0]))


def set_tags(conn: Connection, owner: str, todo_id: int, tags: tuple[str, ...]) -> None:
    """Make `todo_tags` hold exactly these tags for the todo."""
    conn.execute(delete(todo_tags).where(todo_tags.c.todo_id == todo_id))
    if tags:
        conn.execute(
            insert(todo_tags), [{"todo_id": todo_id, "tag": t, "owner": owner} for t in tags]
        )


def _values(row: dict[str, Any], owner: str) -> dict[str, Any]:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return {
        "title": row["title"],
        "completed": row["completed"],
        "created_at": when(row["created_at"]),
        "updated_at": when(row["updated_at"]),
        "due": when(row["due"]),
        "priority": row["priority"],
        "project": row["project"],
        "notes": row["notes"],
        "tags": row["tags"],
        "uid": row["uid"],
        "owner": owner,
    }


def _undo(conn: Connection, owner: str) -> UndoResult:
    last = conn.execute(
        select(todo_journal)
        .where(todo_journal.c.owner == owner)
        .order_by(todo_journal.c.id.desc())
        .limit(1)
    ).first()
    if last is None:
        raise NotFound("Nothing to undo: no change is recorded.")
    data = json.loads(last.before)
    removed: list[int] = []
    for todo_id in data["ids"]:
        gone = conn.execute(
            delete(todos).where(todos.c.id == todo_id, todos.c.owner == owner).returning(todos.c.id)
        ).first()
        if gone is not None:
            removed.append(todo_id)
    restored: list[TodoRecord] = []
    for row in data["rows"]:
        values = _values(row, owner)
        where = (todos.c.id == row["id"], todos.c.owner == owner)
        found = conn.execute(update(todos).where(*where).values(**values).returning(*COLUMNS))
        current = found.first()
        if current is None:
            current = conn.execute(
                insert(todos).values(id=row["id"], **values).returning(*COLUMNS)
            ).first()
        assert current is not None
        set_tags(conn, owner, row["id"], tuple(row["tags"].split()))
        restored.append(record(current))
    conn.execute(delete(todo_journal).where(todo_journal.c.id == last.id))
    return UndoResult(last.action, restored, removed)


async def undo_last(db: Database, owner: str) -> UndoResult:
    """Revert the owner's newest recorded change; NotFound when there is none."""
    return await db.write(lambda conn: _undo(conn, owner))
