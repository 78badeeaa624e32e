"""Rate limits against the shared counters (db/limits.py), on SQLite and PostgreSQL: the sliding
minute, tokens per minute and per day, Retry-After, and concurrent admissions that never let
more through than the limit."""

from __future__ import annotations

import asyncio

import pytest

from chatbot_cli.db.keys import create_key
from chatbot_cli.db.limits import (
    WINDOW_SECONDS,
    KeyLimits,
    admit,
    peek,
    prune_counters,
    read_limits,
    set_limits,
)
from chatbot_cli.db.session import Database
from chatbot_cli.db.usage import write_batch
from chatbot_cli.errors import NotFound
from tests.db.helpers import run

T0 = 1_800_000_000.25  # a fixed clock: the checks take `now` as an argument


async def _with_key(db: Database, name: str = "bob") -> None:
    await create_key(db, name, "h" * 64)


def test_set_read_and_clear_limits(db_url: str) -> None:
    async def go(db: Database) -> None:
        await _with_key(db)
        assert await read_limits(db, "bob") == KeyLimits()
        got = await set_limits(db, "bob", {"rpm": 5, "concurrent": 2})
        assert got == KeyLimits(rpm=5, concurrent=2)
        got = await set_limits(db, "bob", {"tpm": 100})
        assert got == KeyLimits(rpm=5, tpm=100, concurrent=2)  # the others stay
        assert await read_limits(db, "bob") == got
        cleared = await set_limits(db, "bob", dict.fromkeys(got.as_dict()))
        assert cleared == KeyLimits() and not cleared.any
        with pytest.raises(NotFound):
            await set_limits(db, "nobody", {"rpm": 1})
        assert await read_limits(db, "nobody") == KeyLimits()

    run(db_url, go)


def test_requests_per_minute_is_a_sliding_window(db_url: str) -> None:
    limits = KeyLimits(rpm=3)

    async def go(db: Database) -> None:
        await _with_key(db)

        async def at(now: float) -> tuple[str | None, float, int | None]:
            v = await db.write(lambda conn: admit(conn, "bob", limits, now))
            return v.refused, v.retry_after, v.remaining_requests

        assert await at(T0) == (None, 0.0, 2)
        assert (await at(T0 + 10))[0] is None
        assert (await at(T0 + 20))[2] == 0
        refused, wait, remaining = await at(T0 + 30)
        assert refused == "requests_per_minute" and remaining == 0
        # The first request (second T0) leaves the window at T0 + 60.
        assert wait == pytest.approx(int(T0) + WINDOW_SECONDS - (T0 + 30))
        # A refused request is not counted: once the first has left, one more fits.
        assert (await at(int(T0) + WINDOW_SECONDS))[0] is None
        assert (await at(int(T0) + WINDOW_SECONDS + 1))[0] == "requests_per_minute"

    run(db_url, go)


def test_tokens_per_minute_and_per_day(db_url: str) -> None:
    async def go(db: Database) -> None:
        await _with_key(db)
        second = int(T0)
        minute = KeyLimits(tpm=100)
        day = KeyLimits(tokens_per_day=150)
        v = await db.write(lambda conn: admit(conn, "bob", minute, T0))
        assert v.refused is None and v.remaining_tokens == 100
        tokens = {("bob", "s", second): 120, ("bob", "d", second // 86_400): 120}
        await db.write(lambda conn: write_batch(conn, {}, tokens))
        v = await db.write(lambda conn: admit(conn, "bob", minute, T0 + 5))
        assert v.refused == "tokens_per_minute" and 54 < v.retry_after <= 55
        # The headers of a refusal: nothing left, and the window resets when it admits again.
        assert v.remaining_tokens == 0 and v.reset_tokens == v.retry_after
        v = await db.write(lambda conn: admit(conn, "bob", day, T0 + 5))
        assert v.refused is None and v.remaining_tokens == 30
        await db.write(lambda conn: write_batch(conn, {}, tokens))
        v = await db.write(lambda conn: admit(conn, "bob", day, T0 + 90))
        midnight = (second // 86_400 + 1) * 86_400
        assert v.refused == "tokens_per_day"
        assert v.retry_after == pytest.approx(midnight - (T0 + 90))

    run(db_url, go)


def test_a_refusal_reports_every_limit_and_the_longest_wait(db_url: str) -> None:
    """An rpm refusal still carries the token counts (the x-ratelimit-*-tokens headers), and
    when several limits refuse, Retry-After is the wait of the one that frees last."""

    async def go(db: Database) -> None:
        await _with_key(db)
        limits = KeyLimits(rpm=1, tpm=100)
        assert (await db.write(lambda conn: admit(conn, "bob", limits, T0))).refused is None
        v = await db.write(lambda conn: admit(conn, "bob", limits, T0 + 1))
        assert v.refused == "requests_per_minute" and v.remaining_requests == 0
        assert v.remaining_tokens == 100 and v.reset_tokens == 0.0
        day = KeyLimits(rpm=1, tokens_per_day=10)
        tokens = {("bob", "d", int(T0) // 86_400): 10}
        await db.write(lambda conn: write_batch(conn, {}, tokens))
        v = await db.write(lambda conn: admit(conn, "bob", day, T0 + 2))
        assert v.refused == "tokens_per_day" and v.retry_after > WINDOW_SECONDS
        assert v.remaining_requests == 0 and v.remaining_tokens == 0

    run(db_url, go)


def test_peek_reports_without_counting(db_url: str) -> None:
    async def go(db: Database) -> None:
        await _with_key(db)
        limits = KeyLimits(rpm=2, tokens_per_day=50, concurrent=1)
        for _ in range(3):
            v = await db.read(lambda conn: peek(conn, "bob", limits, T0))
            assert (v.refused, v.remaining_requests, v.remaining_tokens) == (None, 2, 50)
        # Nothing counted: two admissions still fit, and peek sees them.
        for _ in range(2):
            assert (await db.write(lambda conn: admit(conn, "bob", limits, T0))).refused is None
        v = await db.read(lambda conn: peek(conn, "bob", limits, T0 + 1))
        assert v.refused == "requests_per_minute" and v.remaining_requests == 0

    run(db_url, go)


def test_concurrent_admissions_never_pass_the_limit(db_url: str) -> None:
    """Fifty admissions at once through two `Database` objects (two replicas' pools): exactly
    the limit gets through."""
    limits = KeyLimits(rpm=20)

    async def go(db: Database) -> None:
        await _with_key(db)
        async with Database(db.url) as other:
            results = await asyncio.gather(
                *(
                    (db if i % 2 else other).write(
                        lambda conn: admit(conn, "bob", limits, T0 + 0.01)
                    )
                    for i in range(50)
                )
            )
        assert sum(v.refused is None for v in results) == 20

    run(db_url, go)


def test_prune_keeps_what_checks_read(db_url: str) -> None:
    async def go(db: Database) -> None:
        await _with_key(db)
        limits = KeyLimits(rpm=100)
        for offset in (0, 50, 130):
            await db.write(lambda conn, o=offset: admit(conn, "bob", limits, T0 + o))
        await db.write(lambda conn: prune_counters(conn, T0 + 130))
        v = await db.write(lambda conn: admit(conn, "bob", limits, T0 + 130))
        assert v.remaining_requests == 100 - 2  # the one at +130 and this one

    run(db_url, go)
