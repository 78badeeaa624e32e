from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chatbot_cli.db import journal, todo_record, todos
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest, NotFound
from tests.db.helpers import run


def test_create_get_update_delete(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        before = datetime.now(UTC) - timedelta(seconds=1)
        made = await todos.create_todo(db, "alice", "  Buy milk  ")
        assert made.title == "Buy milk" and made.completed is False and made.owner == "alice"
        assert made.created_at.tzinfo is not None and made.created_at >= before
        assert made.created_at == made.updated_at

        got = await todos.get_todo(db, "alice", made.id)
        assert got == made

        changed = await todos.update_todo(db, "alice", made.id, completed=True)
        assert changed is not None and changed.completed and changed.title == "Buy milk"
        assert changed.updated_at >= made.updated_at and changed.created_at == made.created_at

        renamed = await todos.update_todo(db, "alice", made.id, title="Buy oat milk")
        assert renamed is not None and renamed.title == "Buy oat milk" and renamed.completed

        gone = await todos.delete_todo(db, "alice", made.id)
        assert gone is not None and gone.id == made.id
        assert await todos.get_todo(db, "alice", made.id) is None
        assert await todos.delete_todo(db, "alice", made.id) is None

    run(db_url, scenario)


def test_owners_never_see_each_other(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        mine = await todos.create_todo(db, "alice", "mine")
        await todos.create_todo(db, "bob", "yours")
        assert [t.title for t in await todos.list_todos(db, "alice")] == ["mine"]
        assert await todos.get_todo(db, "bob", mine.id) is None
        assert await todos.update_todo(db, "bob", mine.id, completed=True) is None
        assert await todos.delete_todo(db, "bob", mine.id) is None
        await todos.update_todo(db, "alice", mine.id, completed=True)
        assert await todos.clear_completed(db, "bob") == 0
        assert (await todos.get_todo(db, "alice", mine.id)) is not None

    run(db_url, scenario)


def test_list_filters_order_and_paging(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        made = [await todos.create_todo(db, "o", f"task {i}") for i in range(5)]
        await todos.create_todo(db, "o", "Shopping: 100% [Milk]_x")
        await todos.update_todo(db, "o", made[1].id, completed=True)
        listed = await todos.list_todos(db, "o")
        assert [t.id for t in listed] == sorted((t.id for t in listed), reverse=True)
        assert len(listed) == 6
        assert [t.id for t in await todos.list_todos(db, "o", completed=True)] == [made[1].id]
        assert len(await todos.list_todos(db, "o", completed=False)) == 5
        page = await todos.list_todos(db, "o", limit=2, offset=1)
        assert [t.id for t in page] == [listed[1].id, listed[2].id]
        assert await todos.list_todos(db, "o", limit=0) == []
        # Case-insensitive, and LIKE wildcards in the search are literal.
        assert [t.title for t in await todos.list_todos(db, "o", search="MILK")] == [
            "Shopping: 100% [Milk]_x"
        ]
        assert len(await todos.list_todos(db, "o", search="100%")) == 1
        assert len(await todos.list_todos(db, "o", search="%")) == 1
        assert len(await todos.list_todos(db, "o", search="_")) == 1
        assert len(await todos.list_todos(db, "o", search="task")) == 5

    run(db_url, scenario)


def test_clear_completed_counts(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        ids = [(await todos.create_todo(db, "o", f"t{i}")).id for i in range(4)]
        for todo_id in ids[:3]:
            await todos.update_todo(db, "o", todo_id, completed=True)
        assert await todos.clear_completed(db, "o") == 3
        assert [t.id for t in await todos.list_todos(db, "o")] == [ids[3]]
        assert await todos.clear_completed(db, "o") == 0

    run(db_url, scenario)


@pytest.mark.parametrize(
    ("title", "fragment"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("x" * 501, "limit is 500"),
        ("a\x00b", "NUL"),
        ("a\ud800b", "surrogate"),
        ("two\nlines", "single line"),
    ],
)
def test_bad_titles_rejected_and_nothing_written(db_url: str, title: str, fragment: str) -> None:
    async def scenario(db: Database) -> None:
        with pytest.raises(InvalidRequest, match=fragment) as info:
            await todos.create_todo(db, "o", title)
        assert info.value.param == "title"
        ok = await todos.create_todo(db, "o", "fine")
        with pytest.raises(InvalidRequest):
            await todos.update_todo(db, "o", ok.id, title=title, completed=True)
        assert await todos.list_todos(db, "o") == [ok]  # the bad update changed nothing

    run(db_url, scenario)


def test_unicode_titles_round_trip(db_url: str) -> None:
    titles = ["שלום עולם", "مرحبا", "emoji 🎉👩‍💻", "x" * 500, "a\u200fb", "ｆｕｌｌ"]

    async def scenario(db: Database) -> list[str]:
        for title in titles:
            await todos.create_todo(db, "o", title)
        return [t.title for t in await todos.list_todos(db, "o")]

    assert run(db_url, scenario) == list(reversed(titles))


def test_bad_paging_and_search(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        with pytest.raises(InvalidRequest, match="limit"):
            await todos.list_todos(db, "o", limit=-1)
        with pytest.raises(InvalidRequest, match="offset"):
            await todos.list_todos(db, "o", offset=-5)
        with pytest.raises(InvalidRequest, match="NUL"):
            await todos.list_todos(db, "o", search="\x00")
        with pytest.raises(InvalidRequest, match="surrogate"):
            await todos.list_todos(db, "o", search="\udfff")
        with pytest.raises(InvalidRequest, match="Nothing to update"):
            await todos.update_todo(db, "o", 1)

    run(db_url, scenario)


def test_concurrent_creates_get_distinct_ids(db_url: str) -> None:
    async def scenario(db: Database) -> tuple[int, int]:
        made = await asyncio.gather(*(todos.create_todo(db, "o", f"t{i}") for i in range(200)))
        return len({t.id for t in made}), len(await todos.list_todos(db, "o"))

    assert run(db_url, scenario) == (200, 200)


def test_deleted_ids_are_not_reused(db_url: str) -> None:
    async def scenario(db: Database) -> tuple[int, int]:
        first = await todos.create_todo(db, "o", "a")
        await todos.delete_todo(db, "o", first.id)
        second = await todos.create_todo(db, "o", "b")
        return first.id, second.id

    first, second = run(db_url, scenario)
    assert second > first


def test_created_row_is_stored_exactly_as_sqlalchemy_stores_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the insert runs on the driver's cursor (db/todos.py): the row must be the one
    SQLAlchemy's own insert writes, down to the stored text of a timestamp with no microseconds."""
    from sqlalchemy import text

    fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    monkeypatch.setattr(todos, "utcnow", lambda: fixed)

    async def scenario(db: Database) -> None:
        made = await todos.create_todo(db, "alice", "by the writer")
        values = {"title": "by core", "completed": False, "created_at": fixed,
                  "updated_at": fixed, "owner": "alice"}  # fmt: skip
        await db.write(lambda conn: conn.execute(todos._INSERT, values))
        assert await todos.get_todo(db, "alice", made.id) == made
        assert made.created_at == fixed and made.completed is False
        query = text("SELECT id, completed, created_at, updated_at, owner FROM todos ORDER BY id")
        raw = await db.read(lambda conn: conn.execute(query).all())
        assert [tuple(r)[1:] for r in raw] == [tuple(raw[1])[1:]] * 2

    run(db_url, scenario)


def test_control_pattern_is_unicode_category_cc() -> None:
    import sys
    import unicodedata

    cc = {chr(i) for i in range(sys.maxunicode + 1) if unicodedata.category(chr(i)) == "Cc"}
    matched = {chr(i) for i in range(sys.maxunicode + 1) if todo_record._CONTROL.match(chr(i))}
    assert matched == cc


def test_insert_is_rolled_back_with_its_transaction(db_url: str) -> None:
    """The SQLite insert runs on the driver's cursor, but inside the writer's transaction: a
    write that fails after it leaves no row behind (a failed batch is re-run write by write)."""

    async def scenario(db: Database) -> None:
        values = {"title": "gone", "completed": False, "created_at": datetime.now(UTC),
                  "updated_at": datetime.now(UTC), "owner": "alice", "priority": 0,
                  "tags": ""}  # fmt: skip

        def insert_then_fail(conn: Any) -> None:
            todos._insert_todo(conn, values, "alice")
            raise RuntimeError("after the insert")

        with pytest.raises(RuntimeError):
            await db.write(insert_then_fail)
        assert await todos.list_todos(db, "alice") == []
        with pytest.raises(NotFound):  # nor its journal row
            await journal.undo_last(db, "alice")

    run(db_url, scenario)
