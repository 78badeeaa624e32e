"""The batched usage writer (db/usage_sink.py) on SQLite and PostgreSQL: it writes on its own
thread, never the event loop's, and close() writes everything added before it."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from chatbot_cli.db.session import Database
from chatbot_cli.db.usage import usage_report
from chatbot_cli.db.usage_sink import UsageSink
from tests.db.helpers import run


def test_sink_writes_off_the_loop_and_everything_on_close(db_url: str) -> None:
    async def go(db: Database) -> None:
        loop_thread = threading.get_ident()
        writers: list[int] = []
        sink = UsageSink(db, interval=0.05)
        original = sink._flush

        def spy(write, final):  # type: ignore[no-untyped-def]
            writers.append(threading.get_ident())
            original(write, final)

        sink._flush = spy  # type: ignore[method-assign]
        sink.start()
        for _ in range(10):
            sink.add("bob", "tiny", 3, 2, rate=True)
        sink.add("ann", "m" * 300, 1, 0, rate=False)
        sink.add("ann", "m" * 300, 1, 0, rate=False)  # added after the last timed flush
        await db.read(lambda conn: None)
        await _close(sink)
        assert writers and loop_thread not in writers
        rows = await usage_report(db, owner=None, since=datetime.now(UTC) - timedelta(hours=1))
        got = {(r.key, r.model): (r.requests, r.prompt_tokens, r.completion_tokens) for r in rows}
        assert got == {("ann", None): (2, 2, 0), ("bob", None): (10, 30, 20)}
        models = await usage_report(
            db, owner="ann", since=datetime(2000, 1, 1, tzinfo=UTC), by="model"
        )
        assert models[0].model == "m" * 200  # cut to the column's width

    run(db_url, go)


async def _close(sink: UsageSink) -> None:
    await asyncio.get_running_loop().run_in_executor(None, sink.close)


def test_a_failed_write_keeps_its_numbers_for_the_next() -> None:
    sink = UsageSink(Database("sqlite://"))  # never started: _flush is driven by hand
    sink.add("bob", "tiny", 3, 2, rate=True)
    batches: list[object] = []

    def down(_job: object) -> None:
        raise OSError("database down")

    def up(job: object) -> None:
        batches.append(job)

    sink._flush(down, final=False)
    sink.add("bob", "tiny", 1, 1, rate=True)
    assert sink._usage and sum(n[0] for n in sink._usage.values()) == 2
    sink._flush(up, final=False)
    assert len(batches) == 1 and not sink._usage and not sink._tokens


def test_a_failed_renewal_is_tried_again_at_the_next_flush() -> None:
    sink = UsageSink(Database("sqlite://"))  # never started: _flush is driven by hand
    sink.leases.add("lease-1")
    jobs: list[object] = []

    def down(_job: object) -> None:
        raise OSError("database down")

    sink._flush(jobs.append, final=False)
    assert jobs == []  # nothing to write and no renewal due yet
    sink._renew_at = 0.0
    sink._flush(down, final=False)
    # Not RENEW_SECONDS later: the lease must not lapse because the database blinked.
    sink._flush(jobs.append, final=False)
    assert len(jobs) == 1
    sink._flush(jobs.append, final=False)
    assert len(jobs) == 1  # renewed: the next is due RENEW_SECONDS later
