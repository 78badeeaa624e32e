"""Reading todos: filters, sort orders (urgency included), offset pages and cursor pages.

Every list is one owner's, and every order ends on the id, so a page boundary is exact. Cursors
are opaque to clients: for the stored orders they hold the last row's sort key (a keyset page, as
fast at row 90,000 as at row 0); for URGENCY, which moves with the clock, the offset.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
)

from chatbot_cli.db.models import UTCDateTime, todo_tags, todos, utcnow
from chatbot_cli.db.session import Database
from chatbot_cli.db.todo_record import (
    COLUMNS,
    MAX_SEARCH_CHARS,
    TodoRecord,
    check_text,
    record,
)
from chatbot_cli.errors import InvalidRequest


class Sort(Enum):
    CREATED = "created"  # newest first
    DUE = "due"  # soonest first, todos without a due date last
    PRIORITY = "priority"  # high first, then newest
    URGENCY = "urgency"  # most urgent first (Taskwarrior's formula, docs/design.md)


# Taskwarrior's default urgency coefficients for the attributes we have (docs/design.md).
URGENCY_DUE = 12.0
URGENCY_PRIORITY = (0.0, 1.8, 3.9, 6.0)
URGENCY_AGE = 2.0
URGENCY_AGE_MAX_DAYS = 365.0
URGENCY_TAGS = 1.0
URGENCY_PROJECT = 1.0
URGENCY_NOTES = 1.0  # Taskwarrior's annotations coefficient; notes count as one annotation


@dataclass(frozen=True, slots=True)
class TodoFilter:
    completed: bool | None = None
    search: str | None = None
    tag: str | None = None
    project: str | None = None
    priority: int | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool | None = None


@dataclass(frozen=True, slots=True)
class TodoPage:
    records: list[TodoRecord]
    total_count: int
    has_next_page: bool
    end_cursor: str | None


def _due_factor(days_overdue: float) -> float:
    # Taskwarrior maps 14 days before the due date to 7 days after it onto 0.2-1.0.
    if days_overdue >= 7.0:
        return 1.0
    if days_overdue >= -14.0:
        return (days_overdue + 14.0) * 0.8 / 21.0 + 0.2
    return 0.2


def _count_factor(count: int) -> float:
    return 0.0 if count == 0 else 0.8 if count == 1 else 0.9 if count == 2 else 1.0


def urgency(todo: TodoRecord, now: datetime | None = None) -> float:
    """Taskwarrior's urgency of a pending todo; a completed todo has none (0)."""
    if todo.completed:
        return 0.0
    now = now or utcnow()
    score = URGENCY_PRIORITY[todo.priority]
    if todo.due is not None:
        score += URGENCY_DUE * _due_factor((now - todo.due).total_seconds() / 86400.0)
    age_days = (now - todo.created_at).total_seconds() / 86400.0
    score += URGENCY_AGE * min(max(age_days, 0.0) / URGENCY_AGE_MAX_DAYS, 1.0)
    score += URGENCY_TAGS * _count_factor(len(todo.tags))
    score += URGENCY_PROJECT * (todo.project is not None)
    score += URGENCY_NOTES * _count_factor(1 if todo.notes else 0)
    return round(score, 6)


def _days_since(now: datetime, column: Any, sqlite: bool) -> ColumnElement[Any]:
    at = literal(now, UTCDateTime)
    if sqlite:
        return func.julianday(at) - func.julianday(column)
    return cast(func.extract("epoch", at - column), Float) / 86400.0


def urgency_sql(now: datetime, sqlite: bool) -> ColumnElement[float]:
    """`urgency()` as one SQL expression, for ordering in the database."""
    overdue = _days_since(now, todos.c.due, sqlite)
    due = case(
        (todos.c.due.is_(None), 0.0),
        (overdue >= 7.0, 1.0),
        (overdue >= -14.0, (overdue + 14.0) * 0.8 / 21.0 + 0.2),
        else_=0.2,
    )
    age = func.min if sqlite else func.least
    age_days = _days_since(now, todos.c.created_at, sqlite)
    spaces = func.length(todos.c.tags) - func.length(func.replace(todos.c.tags, " ", ""))
    tags = case((todos.c.tags == "", 0.0), (spaces == 0, 0.8), (spaces == 1, 0.9), else_=1.0)
    priority = case(
        *((todos.c.priority == i, c) for i, c in enumerate(URGENCY_PRIORITY)), else_=0.0
    )
    score = (
        priority
        + URGENCY_DUE * due
        + URGENCY_AGE * age(cast(age_days, Float) / URGENCY_AGE_MAX_DAYS, 1.0)
        + URGENCY_TAGS * tags
        + URGENCY_PROJECT * case((todos.c.project.is_(None), 0.0), else_=1.0)
        + URGENCY_NOTES * case((todos.c.notes.is_(None), 0.0), else_=0.8)
    )
    return case((todos.c.completed == false(), score), else_=0.0)


def check_search(search: str) -> None:
    check_text(search, "search")
    if len(search) > MAX_SEARCH_CHARS:
        raise InvalidRequest(
            f"'search' is longer than {MAX_SEARCH_CHARS} characters.", param="search"
        )


def _filtered(owner: str, where: TodoFilter, now: datetime) -> Select[Any]:
    stmt = select(*COLUMNS).where(todos.c.owner == owner)
    if where.completed is not None:
        stmt = stmt.where(todos.c.completed == where.completed)
    if where.search:
        check_search(where.search)
        stmt = stmt.where(func.lower(todos.c.title).contains(where.search.lower(), autoescape=True))
    if where.tag is not None:
        tag = where.tag.strip().lstrip("+").lower()
        tagged = select(todo_tags.c.todo_id).where(
            todo_tags.c.owner == owner, todo_tags.c.tag == tag
        )
        stmt = stmt.where(todos.c.id.in_(tagged))
    if where.project is not None:
        stmt = stmt.where(todos.c.project == where.project.strip())
    if where.priority is not None:
        stmt = stmt.where(todos.c.priority == where.priority)
    if where.due_before is not None:
        stmt = stmt.where(todos.c.due < where.due_before)
    if where.due_after is not None:
        stmt = stmt.where(todos.c.due > where.due_after)
    if where.overdue is not None:
        late = and_(todos.c.due < now, todos.c.completed == false())
        stmt = stmt.where(late if where.overdue else ~late)
    return stmt


def _ordered(stmt: Select[Any], sort: Sort, now: datetime, sqlite: bool) -> Select[Any]:
    if sort is Sort.DUE:
        return stmt.order_by(todos.c.due.asc().nulls_last(), todos.c.id.asc())
    if sort is Sort.PRIORITY:
        return stmt.order_by(todos.c.priority.desc(), todos.c.id.desc())
    if sort is Sort.URGENCY:
        return stmt.order_by(urgency_sql(now, sqlite).desc(), todos.c.id.desc())
    # Ids only grow, so they order by creation even when timestamps tie.
    return stmt.order_by(todos.c.id.desc())


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
    where: TodoFilter | None = None,
    sort: Sort = Sort.CREATED,
) -> list[TodoRecord]:
    """The owner's todos in `sort` order (newest first by default)."""
    _check_page(limit, offset)
    where = where or TodoFilter(completed=completed, search=search)
    now = utcnow()
    stmt = _ordered(_filtered(owner, where, now), sort, now, db.is_sqlite).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = await db.read(lambda conn: conn.execute(stmt).all())
    return [record(r) for r in rows]


async def get_todo(db: Database, owner: str, todo_id: int) -> TodoRecord | None:
    stmt = select(*COLUMNS).where(todos.c.id == todo_id, todos.c.owner == owner)
    row = await db.read(lambda conn: conn.execute(stmt).first())
    return record(row) if row is not None else None


# -- cursor pages ------------------------------------------------------------------------------


def _encode(sort: Sort, key: list[Any]) -> str:
    raw = json.dumps([sort.value, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, sort: Sort) -> list[Any]:
    bad = InvalidRequest(
        "'after' is not a cursor of this list: pass the endCursor of the previous page, with "
        "the same sort.",
        param="after",
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(value, list) or not value or value[0] != sort.value:
        raise bad
    key = value[1:]
    shapes = {
        Sort.CREATED: (int,),
        Sort.PRIORITY: (int, int),
        Sort.DUE: ((str, type(None)), int),
        Sort.URGENCY: (int,),
    }[sort]
    if len(key) != len(shapes) or not all(
        isinstance(k, t) and not isinstance(k, bool) for k, t in zip(key, shapes, strict=True)
    ):
        raise bad
    if sort is Sort.DUE and key[0] is not None:
        try:
            key[0] = datetime.fromisoformat(key[0]).astimezone(UTC)
        except ValueError:
            raise bad from None
    return key


def _cursor_of(sort: Sort, last: TodoRecord, offset: int) -> str:
    if sort is Sort.PRIORITY:
        return _encode(sort, [last.priority, last.id])
    if sort is Sort.DUE:
        return _encode(sort, [last.due.isoformat() if last.due else None, last.id])
    if sort is Sort.URGENCY:
        return _encode(sort, [offset])
    return _encode(sort, [last.id])


def _after(stmt: Select[Any], sort: Sort, key: list[Any]) -> tuple[Select[Any], int]:
    """The rows after `key` in `sort` order, and the offset to skip (URGENCY only)."""
    if sort is Sort.URGENCY:
        return stmt, max(key[0], 0)
    if sort is Sort.PRIORITY:
        p, i = key
        later = or_(todos.c.priority < p, and_(todos.c.priority == p, todos.c.id < i))
        return stmt.where(later), 0
    if sort is Sort.DUE:
        due, i = key
        if due is None:
            return stmt.where(todos.c.due.is_(None), todos.c.id > i), 0
        later = or_(
            todos.c.due > due,
            and_(todos.c.due == due, todos.c.id > i),
            todos.c.due.is_(None),
        )
        return stmt.where(later), 0
    return stmt.where(todos.c.id < key[0]), 0


async def page_todos(
    db: Database,
    owner: str,
    *,
    first: int,
    after: str | None = None,
    where: TodoFilter | None = None,
    sort: Sort = Sort.CREATED,
) -> TodoPage:
    """Up to `first` todos after the cursor, how many match in all, and whether more follow."""
    if first < 0:
        raise InvalidRequest("'first' must be zero or more.", param="first")
    where = where or TodoFilter()
    now = utcnow()
    base = _filtered(owner, where, now)
    count = select(func.count()).select_from(base.with_only_columns(todos.c.id).subquery())
    skip = 0
    stmt = base
    if after:
        stmt, skip = _after(stmt, sort, _decode(after, sort))
    stmt = _ordered(stmt, sort, now, db.is_sqlite).offset(skip).limit(first + 1)

    def read(conn: Connection) -> tuple[list[Any], int]:
        return list(conn.execute(stmt).all()), int(conn.execute(count).scalar_one())

    rows, total = await db.read(read)
    records = [record(r) for r in rows[:first]]
    end = _cursor_of(sort, records[-1], skip + len(records)) if records else None
    return TodoPage(records, total, len(rows) > first, end)
