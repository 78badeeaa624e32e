"""The concurrency cap across replicas (db/leases.py, checked by db/limits.py `admit`) on SQLite
and PostgreSQL: leases taken through two `Database` objects (two replicas' pools) count
together, a refusal takes nothing, expired leases (a replica that died) never block, renewal
keeps a running generation counted, and the usage sink renews and finally deletes a replica's
leases."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import Connection, select

from chatbot_cli.db.keys import create_key
from chatbot_cli.db.leases import LEASE_SECONDS, Lease, prune_leases, release, renew
from chatbot_cli.db.limits import KeyLimits, Verdict, admit
from chatbot_cli.db.models import generation_leases
from chatbot_cli.db.session import Database
from chatbot_cli.db.usage_sink import UsageSink
from tests.db.helpers import run

T0 = 1_800_000_000.25


def _leases(conn: Connection) -> dict[str, tuple[str, int, float]]:
    c = generation_leases.c
    rows = conn.execute(select(c.id, c.owner, c.weight, c.expires_at)).all()
    return {r.id: (r.owner, r.weight, r.expires_at) for r in rows}


async def _admit(db: Database, limits: KeyLimits, lease: Lease, now: float = T0) -> Verdict:
    return await db.write(lambda conn: admit(conn, "bob", limits, now, lease))


def test_leases_of_both_replicas_count_together(db_url: str) -> None:
    limits = KeyLimits(concurrent=2)

    async def go(db: Database) -> None:
        await create_key(db, "bob", "h" * 64)
        await create_key(db, "ann", "a" * 64)
        async with Database(db.url) as other:
            first, second = Lease.new(1), Lease.new(1)
            assert (await _admit(db, limits, first)).refused is None
            assert (await _admit(other, limits, second)).refused is None
            refused = await _admit(db, limits, Lease.new(1))
            assert refused.refused == "concurrent_requests" and refused.retry_after == 1
            # Another key's cap is its own.
            ann = await db.write(lambda conn: admit(conn, "ann", limits, T0, Lease.new(2)))
            assert ann.refused is None
            # One ends on the other replica: its share is free at once, for n=1, not n=2.
            await other.write(lambda conn: release(conn, [second.id]))
            assert (await _admit(db, limits, Lease.new(2))).refused == "concurrent_requests"
            assert (await _admit(db, limits, Lease.new(1))).refused is None
        held = await db.read(_leases)
        assert sorted((o, w) for o, w, _ in held.values()) == [("ann", 2), ("bob", 1), ("bob", 1)]
        assert all(e == T0 + LEASE_SECONDS for _, _, e in held.values())

    run(db_url, go)


def test_simultaneous_admissions_never_pass_the_cap(db_url: str) -> None:
    limits = KeyLimits(concurrent=3)

    async def go(db: Database) -> None:
        await create_key(db, "bob", "h" * 64)
        async with Database(db.url) as other:
            results = await asyncio.gather(
                *(
                    (db if i % 2 else other).write(
                        lambda conn: admit(conn, "bob", limits, T0, Lease.new(1))
                    )
                    for i in range(20)
                )
            )
        assert sum(v.refused is None for v in results) == 3
        assert len(await db.read(_leases)) == 3

    run(db_url, go)


def test_a_refusal_takes_no_lease_and_counts_no_request(db_url: str) -> None:
    both = KeyLimits(rpm=2, concurrent=1)

    async def go(db: Database) -> None:
        await create_key(db, "bob", "h" * 64)
        taken = Lease.new(1)
        assert (await _admit(db, both, taken)).remaining_requests == 1
        assert (await _admit(db, both, Lease.new(1))).refused == "concurrent_requests"
        await db.write(lambda conn: release(conn, [taken.id]))
        # The refused request was not counted: one request of the minute is left.
        assert (await _admit(db, both, Lease.new(1), T0 + 1)).remaining_requests == 0
        refused = await _admit(db, KeyLimits(rpm=2, concurrent=5), Lease.new(1), T0 + 2)
        assert refused.refused == "requests_per_minute"
        assert len(await db.read(_leases)) == 1  # the rpm refusal took no lease either

    run(db_url, go)


def test_expired_leases_do_not_block_and_renewed_ones_do(db_url: str) -> None:
    limits = KeyLimits(concurrent=1)

    async def go(db: Database) -> None:
        await create_key(db, "bob", "h" * 64)
        # A replica killed with SIGKILL: its lease, taken long ago, was never renewed.
        dead = Lease.new(1)
        assert (await _admit(db, limits, dead, T0 - 2 * LEASE_SECONDS)).refused is None
        alive = Lease.new(1)
        assert (await _admit(db, limits, alive)).refused is None
        # Renewed before it expired, the running one still counts after its first term.
        await db.write(lambda conn: renew(conn, [alive.id], T0 + LEASE_SECONDS - 1))
        later = T0 + LEASE_SECONDS + 1
        assert (await _admit(db, limits, Lease.new(1), later)).refused == "concurrent_requests"
        await db.write(lambda conn: prune_leases(conn, later))
        assert set(await db.read(_leases)) == {alive.id}
        # Not renewed again, it stops counting too.
        free = T0 + 2 * LEASE_SECONDS
        assert (await _admit(db, limits, Lease.new(1), free)).refused is None

    run(db_url, go)


def test_the_sink_renews_live_leases_and_deletes_them_on_close(db_url: str) -> None:
    limits = KeyLimits(concurrent=5)

    async def go(db: Database) -> None:
        await create_key(db, "bob", "h" * 64)
        live, gone = Lease.new(1), Lease.new(1)
        taken = time.time() - LEASE_SECONDS + 2  # both expire two seconds from now
        for lease in (live, gone):
            assert (await _admit(db, limits, lease, taken)).refused is None
        sink = UsageSink(db, interval=0.05)
        sink.leases.add(live.id)
        sink._renew_at = 0.0  # renew at the first flush rather than RENEW_SECONDS from now
        sink.start()
        deadline = time.monotonic() + 30
        while (await db.read(_leases))[live.id][2] < taken + LEASE_SECONDS + 1:
            assert time.monotonic() < deadline, "the sink renewed nothing"
            await asyncio.sleep(0.05)
        assert (await db.read(_leases))[gone.id][2] == taken + LEASE_SECONDS  # not its own
        await asyncio.get_running_loop().run_in_executor(None, sink.close)
        assert set(await db.read(_leases)) == {gone.id}

    run(db_url, go)
