"""The guard for db/driver_page.py: the common todo pages read on SQLite's driver cursor.

It skips SQLAlchemy's execution path and relies on how SQLAlchemy compiles a select with named
binds (`compiled.positiontup`, `compiled.binds`, the types' bind processors). SQLAlchemy is
pinned below its next major; these tests fail when that changes, instead of the fast path
silently reading other rows than the general way.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, create_engine, select

from chatbot_cli.db import driver_page, models, todo_query, todos
from chatbot_cli.db.session import Database
from chatbot_cli.db.todo_query import Sort, TodoFilter, list_todo_rows
from chatbot_cli.db.todo_record import TextRows, records
from tests.db.helpers import run

NOW = datetime.now(UTC)


async def _seed(db: Database) -> None:
    for i in range(7):
        fields: dict[str, Any] = {"priority": ["l", "m", "h"][i % 3], "tags": [f"t{i % 2}"]}
        if i % 2:
            fields["due"] = NOW + timedelta(days=i)
        made = await todos.create_todo(db, "o", f"todo {i}", fields)
        if i % 3 == 0:
            await todos.update_todo(db, "o", made.id, completed=True)
    await todos.create_todo(db, "other", "not mine")


def _general(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(todo_query, "read_page", lambda *args: None)


SHAPES = list(
    itertools.product(
        [Sort.CREATED, Sort.DUE, Sort.PRIORITY], [None, True, False], [None, 3], [0, 2]
    )
)


def test_every_prepared_shape_reads_the_rows_the_general_way_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(db: Database) -> None:
        await _seed(db)
        fast = []
        for sort, completed, limit, offset in SHAPES:
            kw = {"sort": sort, "completed": completed, "limit": limit, "offset": offset}
            rows = await list_todo_rows(db, "o", **kw)  # type: ignore[arg-type]
            # A page without a limit (the CLI's export) is read the general way.
            assert isinstance(rows, TextRows) is (limit is not None), kw
            fast.append((kw, rows))
        with monkeypatch.context() as m:
            _general(m)
            for kw, rows in fast:
                general = await list_todo_rows(db, "o", **kw)
                assert not isinstance(general, TextRows), kw
                assert [tuple(r) for r in rows] == [tuple(r) for r in general], kw
                assert records(rows) == records(general)
                if kw["offset"] == 0 and kw["completed"] is None:
                    assert len(rows) == (kw["limit"] or 7), kw

    run(f"sqlite:///{tmp_path / 'x.db'}", scenario)


def test_other_pages_take_the_general_way(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        await _seed(db)
        for kw in (
            {"where": TodoFilter(tag="t1")},
            {"where": TodoFilter(completed=False, priority=3)},
            {"search": "todo"},
            {"sort": Sort.URGENCY, "limit": 5},
        ):
            rows = await list_todo_rows(db, "o", **kw)  # type: ignore[arg-type]
            assert rows and not isinstance(rows, TextRows), kw
        plain = await list_todo_rows(db, "o", limit=5)
        assert isinstance(plain, TextRows) is db.is_sqlite

    run(db_url, scenario)


def test_a_shape_with_a_bind_it_does_not_fill_takes_the_general_way(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    models.Base.metadata.create_all(engine)
    stmt = select(models.todos.c.id).where(models.todos.c.title == bindparam("title"))
    with engine.connect() as conn:
        assert driver_page.read_page(conn, "unfilled", lambda binds: stmt, {}) is None
        # The shape is remembered as such, not compiled again.
        assert driver_page.page_sql(conn.dialect, "unfilled", lambda binds: 1 / 0) is None
    engine.dispose()
