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

from sqlalchemy import Connection, Select, and_, false, func, or_, select

from chatbot_cli.db.driver_page import COMPLETED, LIMIT, OFFSET, OWNER, read_page
from chatbot_cli.db.models import todo_tags, todos, utcnow
from chatbot_cli.db.session import Database
from chatbot_cli.db.todo_record import (
    COLUMNS,
    MAX_SEARCH_CHARS,
    TEXT_COLUMNS,
    TodoRecord,
    check_text,
    record,
    records,
)
from chatbot_cli.db.urgency import most_urgent, urgency, urgency_params, urgency_sql
from chatbot_cli.errors import InvalidRequest

__all__ = [
    "Sort",
    "TodoFilter",
    "TodoPage",
    "get_todo",
    "list_todo_rows",
    "list_todos",
    "page_todos",
    "urgency",
]


class Sort(Enum):
    CREATED = "created"  # newest first
    DUE = "due"  # soonest first, todos without a due date last
    PRIORITY = "priority"  # high first, then newest
    URGENCY = "urgency"  # most urgent first (Taskwarrior's formula, docs/design.md)


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
    """`rows`: the page as the database gave it, for `records` to convert (on SQLite, times are
    the stored text), so a caller that needs only some columns converts no more."""

    rows: list[Any]
    total_count: int
    has_next_page: bool
    end_cursor: str | None

    @property
    def records(self) -> list[TodoRecord]:
        return records(self.rows)


def check_search(search: str) -> None:
    check_text(search, "search")
    if len(search) > MAX_SEARCH_CHARS:
        raise InvalidRequest(
            f"'search' is longer than {MAX_SEARCH_CHARS} characters.", param="search"
        )


def _filtered(owner: str, where: TodoFilter, now: datetime, sqlite: bool) -> Select[Any]:
    stmt = select(*COLUMNS).where(todos.c.owner == owner)
    if where.completed is not None:
        stmt = stmt.where(todos.c.completed == where.completed)
    if where.search:
        check_search(where.search)
        # SQLite's LIKE ignores ASCII case, exactly as its lower() does, without calling lower()
        # on every row; PostgreSQL's ILIKE ignores case.
        title, search = todos.c.title, where.search
        found = (
            title.contains(search.lower(), autoescape=True)
            if sqlite
            else title.icontains(search, autoescape=True)
        )
        stmt = stmt.where(found)
    if where.tag is not None:
        tagged = select(todo_tags.c.todo_id).where(
            todo_tags.c.owner == owner, todo_tags.c.tag == _tag(where.tag)
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


def _ordered(stmt: Select[Any], sort: Sort, sqlite: bool) -> Select[Any]:
    if sort is Sort.DUE:
        return stmt.order_by(todos.c.due.asc().nulls_last(), todos.c.id.asc())
    if sort is Sort.PRIORITY:
        return stmt.order_by(todos.c.priority.desc(), todos.c.id.desc())
    if sort is Sort.URGENCY:
        return stmt.order_by(urgency_sql(sqlite).desc(), todos.c.id.desc())
    # Ids only grow, so they order by creation even when timestamps tie.
    return stmt.order_by(todos.c.id.desc())


# A tag filter matching at most this many todos is ranked whole: narrowing seeds each priority
# level through the due index, which scans far when the tagged todos avoid a level.
RANK_WHOLE_TAGGED = 20_000


def _few_enough(conn: Connection, owner: str, where: TodoFilter) -> bool:
    """Whether the filter matches few enough todos to rank them all (counted on an index)."""
    if where.tag is None:
        return False
    tagged = (
        select(func.count())
        .select_from(todo_tags)
        .where(todo_tags.c.owner == owner, todo_tags.c.tag == _tag(where.tag))
    )
    return int(conn.execute(tagged).scalar_one()) <= RANK_WHOLE_TAGGED


def _as_text(stmt: Select[Any], sqlite: bool) -> Select[Any]:
    """On SQLite, the same query with its times left as stored, for `records` to convert."""
    return stmt.with_only_columns(*TEXT_COLUMNS) if sqlite else stmt


def _tag(tag: str) -> str:
    return tag.strip().lstrip("+").lower()


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
    return records(
        await list_todo_rows(
            db,
            owner,
            completed=completed,
            search=search,
            limit=limit,
            offset=offset,
            where=where,
            sort=sort,
        )
    )


async def list_todo_rows(
    db: Database,
    owner: str,
    *,
    completed: bool | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    where: TodoFilter | None = None,
    sort: Sort = Sort.CREATED,
) -> list[Any]:
    """`list_todos` as the rows the database gave, for `records` to convert (on SQLite, times
    are the stored text): a caller that needs only some columns of a page converts no more."""
    _check_page(limit, offset)
    where = where or TodoFilter(completed=completed, search=search)
    now = utcnow()
    # The common pages (one page of a stored order, no filter but `completed`) on SQLite: SQL
    # compiled once per shape, run on the driver's cursor (db/driver_page.py).
    prepared = (
        db.is_sqlite
        and limit is not None
        and sort is not Sort.URGENCY
        and where == TodoFilter(where.completed)
    )
    shape = (sort, where.completed is not None)
    base = None if prepared else _filtered(owner, where, now, db.is_sqlite)

    def build(binds: dict[str, Any]) -> Select[Any]:
        shown = None if where.completed is None else binds[COMPLETED]
        stmt = _ordered(_filtered(binds[OWNER], TodoFilter(shown), now, True), sort, True)
        return _as_text(stmt.offset(binds[OFFSET]).limit(binds[LIMIT]), True)

    def read(conn: Connection) -> list[Any]:
        if prepared:
            values = {OWNER: owner, COMPLETED: where.completed, LIMIT: limit, OFFSET: offset}
            rows = read_page(conn, shape, build, values)
            if rows is not None:
                return rows
        stmt = base if base is not None else _filtered(owner, where, now, db.is_sqlite)
        if sort is Sort.URGENCY and limit is not None:
            few = _few_enough(conn, owner, where)
            return most_urgent(
                conn, _as_text(stmt, db.is_sqlite), now, offset, limit, db.is_sqlite, few
            )
        stmt = _ordered(stmt, sort, db.is_sqlite).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(conn.execute(_as_text(stmt, db.is_sqlite), urgency_params(now)).all())

    return await db.read(read)


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
    count: bool = True,
) -> TodoPage:
    """Up to `first` todos after the cursor, how many match in all (-1 unless `count`: counting
    reads every match), and whether more follow."""
    if first < 0:
        raise InvalidRequest("'first' must be zero or more.", param="first")
    where = where or TodoFilter()
    now = utcnow()
    base = _filtered(owner, where, now, db.is_sqlite)
    counted = select(func.count()).select_from(base.with_only_columns(todos.c.id).subquery())
    skip = 0
    stmt = base
    if after:
        stmt, skip = _after(stmt, sort, _decode(after, sort))

    def read(conn: Connection) -> tuple[list[Any], int]:
        if sort is Sort.URGENCY:
            few = _few_enough(conn, owner, where)
            text = _as_text(stmt, db.is_sqlite)
            rows = most_urgent(conn, text, now, skip, first + 1, db.is_sqlite, few)
        else:
            page = _ordered(stmt, sort, db.is_sqlite).offset(skip).limit(first + 1)
            rows = list(conn.execute(_as_text(page, db.is_sqlite)).all())
        return rows, int(conn.execute(counted).scalar_one()) if count else -1

    rows, total = await db.read(read)
    shown = rows[:first]
    # Only the last todo is needed as a record: its sort key is the cursor.
    end = _cursor_of(sort, records(shown[-1:])[0], skip + len(shown)) if shown else None
    return TodoPage(shown, total, len(rows) > first, end)
