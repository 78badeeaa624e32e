"""`records` reads rows by position only when their first columns are COLUMNS (or TEXT_COLUMNS),
in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import create_engine, insert, literal, select

from chatbot_cli.db.models import Base, UTCDateTime, todos
from chatbot_cli.db.todo_record import (
    COLUMNS,
    TEXT_COLUMNS,
    iso_of_text,
    record,
    records,
    utc_of_text,
)


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


def test_records_of_text_columns_equal_sqlalchemys_own_conversion() -> None:
    """TEXT_COLUMNS leave SQLite's stored times as text; `records` must turn them into exactly
    the aware datetimes SQLAlchemy's result processing gives (whole seconds, microseconds and a
    missing due date included)."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    times = [
        datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2001, 5, 6, 7, 8, 9, 10, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(todos),
            [
                {"title": f"t{i}", "completed": i % 2 == 0, "created_at": when,
                 "updated_at": times[i - 1], "owner": "o", "priority": i,
                 "due": when if i else None, "tags": "a b" if i else ""}
                for i, when in enumerate(times)
            ],
        )  # fmt: skip
        typed = conn.execute(select(*COLUMNS)).all()
        text = conn.execute(select(*TEXT_COLUMNS)).all()
    assert isinstance(text[0].created_at, str)  # the stored text, not SQLAlchemy's datetime
    assert records(text) == records(typed) == [record(r) for r in typed]
    assert all(r.created_at.tzinfo is UTC for r in records(text))
    assert records(text)[0].due is None


def test_utc_of_text_is_utcdatetimes_conversion() -> None:
    """The one-call parse of SQLAlchemy's shape gives UTCDateTime's datetime, and text of that
    length with an offset, a `Z` or a bad field of its own is converted (or refused) as
    UTCDateTime does it."""
    convert = UTCDateTime().process_result_value
    texts = [
        "2026-11-30 16:19:43.518000",
        "2026-11-30 16:19:43.000000",
        "2026-11-30 10:00:00.1+0500",
        "2026-11-30 10:00:00.12345Z",
        "2026-11-30 10:00:00.1-05:0",
        "2026-11-30 10:00:00.123+05",
        "2026-13-30 10:00:00.000000",
        "2026-11-30 10:00:00.12345.",
        "2026-11-30T10:00:00.123456",
        "2026-11-30 10:00:00+01:00",
        "2026-11-30",
    ]
    for text in texts:
        try:
            expected: object = convert(text, None)
        except ValueError:
            expected = ValueError
        try:
            got: object = utc_of_text(text)
        except ValueError:
            got = ValueError
        assert got == expected, text
        if isinstance(got, datetime):
            assert isinstance(expected, datetime)
            assert got.tzinfo is UTC and got.isoformat() == expected.isoformat(), text


def test_iso_of_text_is_isoformat_of_the_time_utc_of_text_reads() -> None:
    """The text rewritten for SQLAlchemy's shape, or the datetime formatted for any other: the
    same characters `isoformat()` gives (or the same refusal), fraction or none, hour 24 and
    odd text of that length included."""
    texts = [
        "2026-11-30 16:19:43.518000",
        "2026-11-30 16:19:43.000000",
        "2026-11-30 16:19:43.000001",
        "0001-01-01 00:00:00.000000",
        "9999-12-31 23:59:59.999999",
        "2026-11-30 24:00:00.000000",
        "2026-11-30 10:00:00.1+0500",
        "2026-11-30 10:00:00.12345Z",
        "2026-11-30 10:00:00.1-05:0",
        "2026-13-30 10:00:00.000000",
        "2026-02-30 10:00:00.000000",
        "2026-11-30 10:00:60.000000",
        "2026-11-30 10:00:00.12345.",
        "2026-11-30 1a:00:00.123456",
        "2026-11-30T10:00:00.123456",
        "2026-11-30 10:00:00+01:00",
        "2026-11-30",
    ]
    for text in texts:
        try:
            expected: object = utc_of_text(text).isoformat()
        except ValueError:
            expected = ValueError
        try:
            got: object = iso_of_text(text)
        except ValueError:
            got = ValueError
        assert got == expected, text
    assert iso_of_text("2026-11-30 16:19:43.000000") == "2026-11-30T16:19:43+00:00"
