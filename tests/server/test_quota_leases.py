"""`Quota` and `Ticket` with a concurrency cap (server/quota.py), in-process on SQLite and
PostgreSQL: the lease a ticket takes is the replica's to renew until the ticket gives it back,
whichever way the response ends; a key without a cap takes none; the 400 and 429 are as before;
closing the quota deletes what is still held."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from chatbot_cli.db.keys import create_key
from chatbot_cli.db.limits import set_limits
from chatbot_cli.db.models import generation_leases
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest, RateLimitExceeded
from chatbot_cli.server.quota import Quota
from tests.db.helpers import run
from tests.db.pg import database_urls


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_urls(request.param, tmp_path)


class Fan:
    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


async def _count(db: Database) -> int:
    return int(
        await db.read(
            lambda c: c.execute(select(func.count()).select_from(generation_leases)).scalar()
        )
        or 0
    )


def test_tickets_take_and_give_back_leases(db_url: str) -> None:
    async def go(db: Database) -> None:
        await create_key(db, "capped", "c" * 64)
        await create_key(db, "free", "f" * 64)
        await set_limits(db, "capped", {"concurrent": 2})
        await set_limits(db, "free", {"rpm": 1000})
        quota = Quota.start(db)
        fan: Any = Fan()
        try:
            free = await quota.admit("free", "m", 1)
            assert free.lease is None and await _count(db) == 0
            with pytest.raises(InvalidRequest):
                await quota.admit("capped", "m", 3)
            first = await quota.admit("capped", "m", 1)
            second = await quota.admit("capped", "m", 1)
            assert sorted(quota.sink.leases.snapshot()) == sorted([first.lease, second.lease])
            with pytest.raises(RateLimitExceeded) as refused:
                await quota.admit("capped", "m", 1)
            assert refused.value.code == "concurrent_requests"
            assert refused.value.retry_after == 1
            # Answered: given back before the last bytes, then accounted.
            await first.release()
            first.finish(fan)
            assert await _count(db) == 1 and len(quota.sink.leases) == 1
            # Cut (client gone, error): `finish` alone gives it back, in a task of its own.
            second.finish(fan)
            second.finish(fan)  # a response has several ways to end
            await asyncio.gather(*quota._releasing)
            assert await _count(db) == 0 and len(quota.sink.leases) == 0
            both = await quota.admit("capped", "m", 2)  # n = 2 takes the whole cap
            with pytest.raises(RateLimitExceeded):
                await quota.admit("capped", "m", 1)
            await both.release()
            # A ticket lost without `finish` stops being renewed, so its lease expires.
            lost = (await quota.admit("free", "m", 1), await quota.admit("capped", "m", 1))
            held = await quota.admit("capped", "m", 1)
            with pytest.raises(RateLimitExceeded):
                await quota.admit("capped", "m", 1)
            assert len(quota.sink.leases) == 2
            del lost
            gc.collect()
            assert quota.sink.leases.snapshot() == [held.lease]
        finally:
            await quota.aclose()
        # A ticket still running when the server stops: its lease goes with the last flush (the
        # lost one's row stays until it expires, and with it no admission counts it).
        assert await _count(db) == 1

    run(db_url, go)
