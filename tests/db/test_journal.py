"""Undo through the journal, and imports (all or nothing, never twice)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatbot_cli.db import journal, todos
from chatbot_cli.db.session import Database
from chatbot_cli.db.todo_query import TodoFilter
from chatbot_cli.errors import NotFound
from tests.db.helpers import run


def test_undo_walks_back_several_changes(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        a = await todos.create_todo(db, "o", "a", {"tags": ["x"], "project": "p"})
        b = await todos.create_todo(db, "o", "b")
        await todos.update_todo(db, "o", a.id, title="a2", fields={"tags": ["y"]})
        await todos.update_todo(db, "o", b.id, completed=True)
        await todos.clear_completed(db, "o")
        await todos.delete_todo(db, "o", a.id)
        await todos.create_todo(db, "other", "not mine")
        assert await todos.list_todos(db, "o") == []

        steps = [await journal.undo_last(db, "o") for _ in range(4)]
        assert [s.action for s in steps] == ["rm", "clear", "done", "edit"]
        listed = {t.title: t for t in await todos.list_todos(db, "o")}
        assert set(listed) == {"a", "b"}
        assert listed["a"].tags == ("x",) and listed["a"].project == "p"
        assert listed["a"].id == a.id and listed["a"].created_at == a.created_at
        assert not listed["b"].completed
        got = await todos.list_todos(db, "o", where=TodoFilter(tag="x"))
        assert [t.id for t in got] == [a.id]
        assert (await journal.undo_last(db, "o")).removed == [b.id]
        assert (await journal.undo_last(db, "o")).removed == [a.id]
        with pytest.raises(NotFound):
            await journal.undo_last(db, "o")
        assert [t.title for t in await todos.list_todos(db, "other")] == ["not mine"]

    run(db_url, scenario)


def test_journal_keeps_the_last_undo_depth_changes(db_url: str) -> None:
    async def scenario(db: Database) -> int:
        for i in range(journal.UNDO_DEPTH + journal.PRUNE_EVERY + 5):
            await todos.create_todo(db, "o", f"t{i}")
        undone = 0
        while True:
            try:
                await journal.undo_last(db, "o")
            except NotFound:
                return undone
            undone += 1

    undone = run(db_url, scenario)
    assert journal.UNDO_DEPTH <= undone < journal.UNDO_DEPTH + journal.PRUNE_EVERY


def test_pruning_one_owners_journal_leaves_the_others(db_url: str) -> None:
    async def scenario(db: Database) -> list[str]:
        await todos.create_todo(db, "other", "kept")
        for i in range(journal.UNDO_DEPTH + journal.PRUNE_EVERY + 5):
            await todos.create_todo(db, "o", f"t{i}")
        await journal.undo_last(db, "other")
        return [t.title for t in await todos.list_todos(db, "other")]

    assert run(db_url, scenario) == []


ITEMS = [
    {"title": "one", "uid": "u-1", "tags": ["a"], "priority": "high", "completed": True},
    {"title": "two", "due": datetime(2027, 1, 2, tzinfo=UTC), "created_at": datetime(2026, 1, 1)},
]


def test_import_is_idempotent_and_undoable(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        items = [{**ITEMS[0]}, {**ITEMS[1], "uid": "u-2"}]
        first = await todos.import_todos(db, "o", items)
        assert (len(first.created), first.skipped) == (2, 0)
        again = await todos.import_todos(db, "o", items)
        assert (len(again.created), again.skipped) == (0, 2)
        two = next(t for t in first.created if t.title == "two")
        assert two.created_at == datetime(2026, 1, 1, tzinfo=UTC)
        # A todo exported from here comes back with its id and creation time: not created again.
        back = await todos.import_todos(
            db, "o", [{"title": "two", "id": two.id, "created_at": two.created_at}]
        )
        assert back.skipped == 1
        assert (await journal.undo_last(db, "o")).action == "import"
        assert await todos.list_todos(db, "o") == []

    run(db_url, scenario)


def test_a_bad_item_imports_nothing(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        with pytest.raises(todos.InvalidImportItem) as caught:
            await todos.import_todos(db, "o", [*ITEMS, {"title": "x", "priority": "urgent"}])
        assert caught.value.item == 2
        assert "Item 3" in caught.value.message
        assert await todos.list_todos(db, "o") == []

    run(db_url, scenario)
