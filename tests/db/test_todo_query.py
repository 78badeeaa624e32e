"""Todo fields, filters, sort orders and cursor pages, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from chatbot_cli.db import todos
from chatbot_cli.db.session import Database
from chatbot_cli.db.todo_query import Sort, TodoFilter, page_todos, urgency
from chatbot_cli.errors import InvalidRequest
from tests.db.helpers import run

NOW = datetime.now(UTC)


async def _seed(db: Database) -> dict[str, int]:
    ids = {}
    made = await todos.create_todo(
        db,
        "o",
        "Call mom",
        {"due": NOW + timedelta(days=1), "priority": "high", "tags": ["Family, phone"]},
    )
    ids["mom"] = made.id
    ids["plain"] = (await todos.create_todo(db, "o", "plain")).id
    ids["late"] = (
        await todos.create_todo(
            db, "o", "Pay rent", {"due": NOW - timedelta(days=3), "project": "home", "notes": "*x*"}
        )
    ).id
    ids["low"] = (await todos.create_todo(db, "o", "someday", {"priority": "L"})).id
    await todos.create_todo(db, "other", "not mine", {"tags": ["family"]})
    return ids


def test_fields_are_stored_and_normalised(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        ids = await _seed(db)
        mom = await todos.get_todo(db, "o", ids["mom"])
        assert mom is not None
        assert mom.tags == ("family", "phone")
        assert mom.priority == 3
        assert mom.due is not None and abs(mom.due - (NOW + timedelta(days=1))) < timedelta(
            seconds=1
        )
        changed = await todos.update_todo(
            db, "o", ids["mom"], fields={"due": None, "tags": [], "project": "  "}
        )
        assert changed is not None
        assert (changed.due, changed.tags, changed.project) == (None, (), None)
        got = await todos.list_todos(db, "o", where=TodoFilter(tag="family"))
        assert got == []

    run(db_url, scenario)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"priority": "urgent"}, "priority"),
        ({"tags": ["x" * 65]}, "tags"),
        ({"project": "a\nb"}, "project"),
        ({"notes": "bell\x07"}, "notes"),
        ({"colour": "red"}, None),
    ],
)
def test_bad_fields_are_refused(fields: dict[str, object], param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        todos._fields(fields)
    assert caught.value.param == param


def test_filters(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        ids = await _seed(db)

        async def titles(**kw: object) -> list[int]:
            return [t.id for t in await todos.list_todos(db, "o", where=TodoFilter(**kw))]  # type: ignore[arg-type]

        assert await titles(tag="+Family") == [ids["mom"]]
        assert await titles(project="home") == [ids["late"]]
        assert await titles(priority=1) == [ids["low"]]
        assert await titles(overdue=True) == [ids["late"]]
        assert await titles(due_before=NOW) == [ids["late"]]
        assert await titles(due_after=NOW) == [ids["mom"]]
        assert await titles(search="RENT") == [ids["late"]]

    run(db_url, scenario)


def test_sort_orders_and_urgency_in_sql_matches_python(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        ids = await _seed(db)
        by_due = [t.id for t in await todos.list_todos(db, "o", sort=Sort.DUE)]
        assert by_due[:2] == [ids["late"], ids["mom"]]
        by_priority = [t.id for t in await todos.list_todos(db, "o", sort=Sort.PRIORITY)]
        assert by_priority[:2] == [ids["mom"], ids["low"]]
        ranked = await todos.list_todos(db, "o", sort=Sort.URGENCY)
        scores = [urgency(t) for t in ranked]
        assert scores == sorted(scores, reverse=True)
        assert [t.id for t in ranked[:2]] == [ids["mom"], ids["late"]]  # 15.2, then 12.0

    run(db_url, scenario)


def test_urgency_follows_taskwarrior() -> None:
    base = todos.TodoRecord(1, "t", False, NOW, NOW, "o")
    assert urgency(base, NOW) == 0.0
    due_now = todos.TodoRecord(1, "t", False, NOW, NOW, "o", due=NOW, priority=3, tags=("a",))
    # due now: (0 + 14) * 0.8 / 21 + 0.2 of 12; high 6.0; one tag 0.8.
    assert urgency(due_now, NOW) == pytest.approx(12 * (14 * 0.8 / 21 + 0.2) + 6.0 + 0.8)
    old = todos.TodoRecord(1, "t", False, NOW - timedelta(days=730), NOW, "o")
    assert urgency(old, NOW) == pytest.approx(2.0)
    done = todos.TodoRecord(1, "t", True, NOW, NOW, "o", priority=3)
    assert urgency(done, NOW) == 0.0


@pytest.mark.parametrize("sort", list(Sort))
def test_cursor_pages_walk_every_row_once(db_url: str, sort: Sort) -> None:
    async def scenario(db: Database) -> None:
        await _seed(db)
        for i in range(7):
            await todos.create_todo(db, "o", f"n{i}", {"priority": i % 3, "due": NOW})
        seen: list[int] = []
        after = None
        while True:
            page = await page_todos(db, "o", first=3, after=after, sort=sort)
            assert page.total_count == 11
            seen += [t.id for t in page.records]
            if not page.has_next_page:
                break
            after = page.end_cursor
        expected = [t.id for t in await todos.list_todos(db, "o", sort=sort)]
        assert seen == expected

    run(db_url, scenario)


def test_a_foreign_cursor_is_refused(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        page = await page_todos(db, "o", first=1, sort=Sort.CREATED)
        assert page.records == [] and page.end_cursor is None
        for bad in ("nope", "WyJjcmVhdGVkIl0", "WyJkdWUiLDEsMl0"):
            with pytest.raises(InvalidRequest):
                await page_todos(db, "o", first=1, after=bad, sort=Sort.CREATED)

    run(db_url, scenario)


def test_migration_keeps_existing_todos(db_url: str) -> None:
    async def scenario(db: Database) -> list[todos.TodoRecord]:
        await db.upgrade("0002")
        old = text(
            "INSERT INTO todos (title, completed, created_at, updated_at, owner) "
            "VALUES ('old one', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'default')"
        )
        await db.write(lambda conn: conn.execute(old))
        await db.upgrade()
        listed = await todos.list_todos(db, "default", sort=Sort.URGENCY)
        await todos.update_todo(db, "default", listed[0].id, fields={"tags": ["x"]})
        assert [t.id for t in await todos.list_todos(db, "default", where=TodoFilter(tag="x"))]
        return listed

    (old,) = run(db_url, scenario, upgrade=False)
    assert (old.title, old.priority, old.tags, old.due, old.uid) == ("old one", 0, (), None, None)
