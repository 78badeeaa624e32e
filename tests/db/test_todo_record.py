"""`records` reads rows by position only when their first columns are COLUMNS, in order."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, insert, literal, select

from chatbot_cli.db.models import Base, todos
from chatbot_cli.db.todo_record import COLUMNS, record, records


def test_records_by_position_equal_records_by_name() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    now = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(todos),
            [
                {"title": "a", "completed": False, "created_at": now, "updated_at": now,
                 "owner": "o", "priority": 0, "tags": ""},
                {"title": "b", "completed": True, "created_at": now, "updated_at": now,
                 "owner": "o", "due": now, "priority": 3, "project": "p", "notes": "n",
                 "tags": "x y", "uid": "u"},
            ],
        )  # fmt: skip
        plain = conn.execute(select(*COLUMNS)).all()
        extra = conn.execute(select(*COLUMNS, literal(1).label("score"))).all()
        shuffled = conn.execute(select(*reversed(COLUMNS))).all()
    by_name = [record(r) for r in plain]
    assert by_name[1].tags == ("x", "y") and by_name[1].completed is True
    assert records(plain) == by_name
    assert records(extra) == by_name  # a trailing column (an ORDER BY score) is left alone
    assert records(shuffled) == by_name  # another order: read by name
    assert records([]) == []
