"""Urgency: Taskwarrior's formula over the attributes a todo has, in Python (the `urgency` field)
and in SQL (the URGENCY order), and `narrow`, which keeps the URGENCY order from computing the
score of every todo an owner has.

Why narrowing is exact: a todo's urgency is a static part (priority, tags, project, notes; at most
STATIC_MAX), a due part that only grows as the due date comes closer, and an age part of at most
URGENCY_AGE. Once `need` todos are known to score at least T, any todo in the first `need` scores
at least T too, so it is either due before the date where the due part alone could reach T, or its
priority is high enough for the rest to reach T. Both are index ranges, (owner, due) and
(owner, priority, id).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    bindparam,
    case,
    cast,
    false,
    func,
    or_,
)

from chatbot_cli.db.models import UTCDateTime, todos, utcnow
from chatbot_cli.db.todo_record import TodoRecord, records

# Taskwarrior's default urgency coefficients for the attributes we have (docs/design.md).
URGENCY_DUE = 12.0
URGENCY_PRIORITY = (0.0, 1.8, 3.9, 6.0)
URGENCY_AGE = 2.0
URGENCY_AGE_MAX_DAYS = 365.0
URGENCY_TAGS = 1.0
URGENCY_PROJECT = 1.0
URGENCY_NOTES = 1.0  # Taskwarrior's annotations coefficient; notes count as one annotation


def _due_factor(days_overdue: float) -> float:
    # Taskwarrior maps 14 days before the due date to 7 days after it onto 0.2-1.0.
    if days_overdue >= 7.0:
        return 1.0
    if days_overdue >= -14.0:
        return (days_overdue + 14.0) * 0.8 / 21.0 + 0.2
    return 0.2


def _count_factor(count: int) -> float:
    return 0.0 if count == 0 else 0.8 if count == 1 else 0.9 if count == 2 else 1.0


def score(
    now: datetime,
    completed: bool,
    priority: int,
    due: datetime | None,
    created_at: datetime,
    tag_count: int,
    has_project: bool,
    has_notes: bool,
) -> float:
    """Taskwarrior's urgency of a pending todo from its parts; a completed todo has none (0)."""
    if completed:
        return 0.0
    total = URGENCY_PRIORITY[priority]
    if due is not None:
        total += URGENCY_DUE * _due_factor((now - due).total_seconds() / 86400.0)
    age_days = (now - created_at).total_seconds() / 86400.0
    total += URGENCY_AGE * min(max(age_days, 0.0) / URGENCY_AGE_MAX_DAYS, 1.0)
    total += URGENCY_TAGS * _count_factor(tag_count)
    total += URGENCY_PROJECT * has_project
    total += URGENCY_NOTES * _count_factor(1 if has_notes else 0)
    return round(total, 6)


def urgency(todo: TodoRecord, now: datetime | None = None) -> float:
    """Taskwarrior's urgency of a todo; a completed todo has none (0)."""
    return score(
        now or utcnow(),
        todo.completed,
        todo.priority,
        todo.due,
        todo.created_at,
        len(todo.tags),
        todo.project is not None,
        bool(todo.notes),
    )


# The Julian day number of the Unix epoch: SQLite's julianday() of a stored timestamp, minus it,
# is days since the epoch.
_JULIAN_EPOCH = 2440587.5


def _days_since(column: Any, sqlite: bool) -> ColumnElement[Any]:
    if sqlite:
        # `now` as a number: SQLite would parse a bound timestamp again on every row.
        return bindparam("urgency_now_jd", type_=Float) - func.julianday(column)
    now = bindparam("urgency_now", type_=UTCDateTime)
    return cast(func.extract("epoch", now - column), Float) / 86400.0


def urgency_params(now: datetime) -> dict[str, Any]:
    """The values `urgency_sql`'s parameters take at `now`: pass them when executing."""
    return {"urgency_now_jd": now.timestamp() / 86400.0 + _JULIAN_EPOCH, "urgency_now": now}


@cache
def urgency_sql(sqlite: bool) -> ColumnElement[float]:
    """`urgency()` as one SQL expression, for ordering in the database (built once; its `now`
    comes from `urgency_params`). Each timestamp is read once a row: the due factor's three
    pieces are one clamp."""
    least, greatest = (func.min, func.max) if sqlite else (func.least, func.greatest)
    overdue = _days_since(todos.c.due, sqlite)
    ramp = greatest(0.2, least(1.0, (overdue + 14.0) * 0.8 / 21.0 + 0.2))
    due = case((todos.c.due.is_(None), 0.0), else_=ramp)
    age_days = _days_since(todos.c.created_at, sqlite)
    spaces = func.length(todos.c.tags) - func.length(func.replace(todos.c.tags, " ", ""))
    tags = case((todos.c.tags == "", 0.0), (spaces == 0, 0.8), (spaces == 1, 0.9), else_=1.0)
    priority = case(
        *((todos.c.priority == i, c) for i, c in enumerate(URGENCY_PRIORITY)), else_=0.0
    )
    total = (
        priority
        + URGENCY_DUE * due
        + URGENCY_AGE * least(greatest(age_days / URGENCY_AGE_MAX_DAYS, 0.0), 1.0)
        + URGENCY_TAGS * tags
        + URGENCY_PROJECT * case((todos.c.project.is_(None), 0.0), else_=1.0)
        + URGENCY_NOTES * case((todos.c.notes.is_(None), 0.0), else_=0.8)
    )
    return case((todos.c.completed == false(), total), else_=0.0)


# The most the static part can add besides priority: tags, project and notes at their maximum.
STATIC_OTHER_MAX = URGENCY_TAGS + URGENCY_PROJECT + URGENCY_NOTES * 0.8
# Slack for the difference between Python's and the database's floating point.
EPSILON = 1e-3


# What scoring a seed needs, and no more: seeds are read by the hundred on every URGENCY page.
_SEED_COLUMNS = (
    todos.c.id,
    todos.c.completed,
    todos.c.priority,
    todos.c.due,
    todos.c.created_at,
    todos.c.tags,
    todos.c.project.is_not(None).label("has_project"),
    todos.c.notes.is_not(None).label("has_notes"),
)


def _seeds(conn: Connection, stmt: Select[Any], now: datetime, need: int) -> dict[int, float]:
    """Scores of todos likely to be among the `need` most urgent: at each priority level, the
    `need` due soonest, and the `need` first in priority order. Any todos give a valid
    threshold; these give a high one, which rules out the most."""
    light = stmt.with_only_columns(*_SEED_COLUMNS)
    queries = [
        light.where(todos.c.priority == level, todos.c.due.is_not(None))
        .order_by(todos.c.due.asc())
        .limit(need)
        for level in range(len(URGENCY_PRIORITY))
    ]
    queries.append(light.order_by(todos.c.priority.desc(), todos.c.id.desc()).limit(need))
    found: dict[int, float] = {}
    for query in queries:
        for r in conn.execute(query).all():
            tag_count = r.tags.count(" ") + 1 if r.tags else 0
            found[r.id] = score(
                now, bool(r.completed), r.priority, r.due, r.created_at, tag_count,
                bool(r.has_project), bool(r.has_notes),
            )  # fmt: skip
    return found


def _due_from(days_needed: float, now: datetime) -> datetime:
    """The latest due date whose due factor is at least `days_needed` (0.2 < it <= 1)."""
    days_overdue = (days_needed - 0.2) * 21.0 / 0.8 - 14.0
    return now - timedelta(days=days_overdue)


def most_urgent(
    conn: Connection,
    stmt: Select[Any],
    now: datetime,
    skip: int,
    count: int,
    sqlite: bool,
    few_enough: bool = False,
) -> list[Any]:
    """Rows `skip` to `skip + count` of `stmt` in URGENCY order (most urgent first, then newest).
    When fewer than that match (a search, a rare tag), they are all read in one query and ranked
    here; otherwise the database ranks them all (`few_enough`: the caller knows there are not
    many) or only the candidates `narrow` leaves."""
    need = skip + count
    some = list(conn.execute(stmt.limit(need + 1)).all())
    # `records`, not `record`: a page's rows may hold SQLite's times as stored text.
    scored = [(urgency(r, now), r.id) for r in records(some)]
    if len(some) <= need:
        ranked = sorted(zip(scored, some, strict=True), key=lambda p: (-p[0][0], -p[0][1]))
        return [row for _, row in ranked][skip:need]
    known = {todo_id: score for score, todo_id in scored}
    narrowed = stmt if few_enough else narrow(conn, stmt, now, need, known)
    ordered = narrowed.order_by(urgency_sql(sqlite).desc(), todos.c.id.desc())
    return list(conn.execute(ordered.offset(skip).limit(count), urgency_params(now)).all())


def narrow(
    conn: Connection,
    stmt: Select[Any],
    now: datetime,
    need: int,
    known: dict[int, float] | None = None,
) -> Select[Any]:
    """`stmt` restricted to the todos that can be among its `need` most urgent (see the module
    docstring); `stmt` itself when nothing can be ruled out. `known`: scores of todos of `stmt`
    already read (by id), used as seeds too."""
    seeds = {**(known or {}), **_seeds(conn, stmt, now, need)}
    if len(seeds) < need:
        return stmt
    scores = sorted(seeds.values(), reverse=True)
    threshold = scores[need - 1] - EPSILON
    if threshold <= 0:
        return stmt
    # Per priority level, the due factor a todo needs when the rest is at its maximum.
    terms: list[Any] = []
    bounds: list[datetime | None] = []  # the latest due date each term accepts (None: any)
    for level, coefficient in enumerate(URGENCY_PRIORITY):
        needed = (threshold - URGENCY_AGE - STATIC_OTHER_MAX - coefficient) / URGENCY_DUE
        if needed > 1.0:
            continue  # even overdue by a week, this level cannot reach the threshold
        if needed <= 0.0:
            return stmt  # this level reaches it without a due date: nothing to rule out
        due = _due_from(needed, now) if needed > 0.2 else None
        bounds.append(due)
        has_due = todos.c.due <= due if due is not None else todos.c.due.is_not(None)
        terms.append((todos.c.priority == level) & has_due)
    if not terms:
        return stmt.where(false())
    if None not in bounds:
        # One range of the (owner, due) index holds every candidate.
        stmt = stmt.where(todos.c.due <= max(b for b in bounds if b is not None))
    return stmt.where(or_(*terms))
