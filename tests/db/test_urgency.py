"""The URGENCY order: narrowed in SQL (db/urgency.py), it must equal sorting every todo by
Python's `urgency()`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from chatbot_cli.db import todos
from chatbot_cli.db.models import utcnow
from chatbot_cli.db.session import Database
from chatbot_cli.db.todo_query import Sort, TodoFilter, _filtered, page_todos, urgency
from chatbot_cli.db.urgency import narrow
from tests.db.helpers import run


def _items(seed: int, count: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    items = []
    for i in range(count):
        items.append(
            {
                "title": f"t{i}",
                "created_at": now - timedelta(minutes=rng.randrange(0, 60 * 24 * 500)),
                "completed": rng.random() < 0.2,
                "priority": rng.choice(["none", "none", "low", "medium", "high"]),
                "due": now + timedelta(hours=rng.randrange(-24 * 30, 24 * 60))
                if rng.random() < 0.5
                else None,
                "tags": rng.sample(["a", "b", "c", "d"], rng.randrange(0, 4)),
                "project": "p" if rng.random() < 0.3 else None,
                "notes": "n" if rng.random() < 0.1 else None,
            }
        )
    return items


@pytest.mark.parametrize("seed", [1, 2])
def test_narrowed_order_is_the_full_order(db_url: str, seed: int) -> None:
    async def scenario(db: Database) -> None:
        await todos.import_todos(db, "o", _items(seed, 400))
        everything = await todos.list_todos(db, "o")
        expected = [t.id for t in sorted(everything, key=lambda t: (-urgency(t), -t.id))]
        for need in (1, 10, 50):
            got = await todos.list_todos(db, "o", sort=Sort.URGENCY, limit=need)
            assert [t.id for t in got] == expected[:need]
        # The data is such that narrowing does rule todos out (or the test above proves nothing).
        base = _filtered("o", TodoFilter(), utcnow(), db.is_sqlite)
        narrowed = await db.read(lambda conn: narrow(conn, base, utcnow(), 10))
        assert narrowed is not base
        page = await page_todos(db, "o", first=30, sort=Sort.URGENCY)
        second = await page_todos(db, "o", first=30, after=page.end_cursor, sort=Sort.URGENCY)
        assert [t.id for t in page.records + second.records] == expected[:60]

    run(db_url, scenario)
