"""Hourly usage and its reports (db/usage.py) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatbot_cli.db.session import Database
from chatbot_cli.db.usage import parse_since, usage_report, write_batch
from chatbot_cli.errors import InvalidRequest
from tests.db.helpers import run

HOUR = 1_800_000_000 // 3600 * 3600


def test_batches_add_up_and_reports_group(db_url: str) -> None:
    async def go(db: Database) -> None:
        first = {
            ("bob", "tiny", HOUR): [2, 10, 4],
            ("bob", "big", HOUR): [1, 5, 5],
            ("ann", "tiny", HOUR + 3600): [1, 1, 1],
        }
        await db.write(lambda conn: write_batch(conn, first, {}))
        await db.write(lambda conn: write_batch(conn, {("bob", "tiny", HOUR): [1, 1, 1]}, {}))
        since = datetime.fromtimestamp(HOUR, UTC)
        by_key = await usage_report(db, owner=None, since=since)
        assert [(r.key, r.requests, r.prompt_tokens, r.total_tokens) for r in by_key] == [
            ("ann", 1, 1, 2),
            ("bob", 4, 16, 26),
        ]
        by_model = await usage_report(db, owner="bob", since=since, by="model")
        assert [(r.model, r.requests) for r in by_model] == [("big", 1), ("tiny", 3)]
        by_hour = await usage_report(db, owner=None, since=since, by="hour")
        assert [(r.key, r.period) for r in by_hour] == [
            ("ann", since + timedelta(hours=1)),
            ("bob", since),
        ]
        day = await usage_report(db, owner="bob", since=since, by="day")
        assert day[0].period == since.replace(hour=0) and day[0].requests == 4
        later = await usage_report(db, owner=None, since=since + timedelta(hours=1))
        assert [r.key for r in later] == ["ann"]
        with pytest.raises(InvalidRequest):
            await usage_report(db, owner=None, since=since, by="week")

    run(db_url, go)


def test_parse_since() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1, tzinfo=UTC)
    # The last three are before year 1 (were OverflowError: a traceback, GraphQL's 'Unexpected').
    for bad in ("", "7", "-1d", "soon", "7y", "999999w", "999999d", "0001-01-01T00:00+05:00"):
        with pytest.raises(InvalidRequest):
            parse_since(bad, now)
