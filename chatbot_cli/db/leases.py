"""Generation leases: how a key's `--concurrent` cap holds across every replica sharing the
database (`generation_leases`, one row per generation in flight).

Admission (db/limits.py `admit`) counts the key's unexpired leases under the lock on the key's
row and inserts one, in the transaction that checks the other limits. The replica that holds a
lease deletes it when the response ends, and the usage sink's thread pushes the expiry of all
the replica's live leases forward every RENEW_SECONDS in one statement, off the request path. A
replica killed with SIGKILL renews nothing: its leases stop counting LEASE_SECONDS after their
last renewal at the latest.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from chatbot_cli.db.models import generation_leases

RENEW_SECONDS = 5.0
# A few renewals long: one late or failed renewal does not free a generation still running.
LEASE_SECONDS = 3 * RENEW_SECONDS


@dataclass(frozen=True, slots=True)
class Lease:
    """The lease one admission asks for: `weight` generations (a request's n)."""

    id: str
    weight: int

    @classmethod
    def new(cls, weight: int) -> Lease:
        return cls(uuid.uuid4().hex, weight)


def held(conn: Connection, owner: str, now: float) -> int:
    """Generations `owner` has in flight on every replica: the weight of its unexpired leases."""
    c = generation_leases.c
    total = conn.execute(
        select(func.coalesce(func.sum(c.weight), 0)).where(c.owner == owner, c.expires_at > now)
    ).scalar()
    return int(total or 0)


def take(conn: Connection, owner: str, lease: Lease, now: float) -> None:
    conn.execute(
        generation_leases.insert().values(
            id=lease.id, owner=owner, weight=lease.weight, expires_at=now + LEASE_SECONDS
        )
    )


def release(conn: Connection, ids: list[str]) -> None:
    if ids:
        conn.execute(generation_leases.delete().where(generation_leases.c.id.in_(ids)))


def renew(conn: Connection, ids: list[str], now: float) -> None:
    if ids:
        c = generation_leases.c
        conn.execute(
            generation_leases.update().where(c.id.in_(ids)).values(expires_at=now + LEASE_SECONDS)
        )


def prune_leases(conn: Connection, now: float) -> None:
    """Drop the leases of replicas that died. Only those expired a whole term ago: a live
    replica renewing one that just expired (late by a stall) then never waits on a prune that
    waits on it in turn."""
    c = generation_leases.c
    conn.execute(generation_leases.delete().where(c.expires_at <= now - LEASE_SECONDS))


class LiveLeases:
    """The leases this replica holds, shared between the event loop (which adds and removes
    them) and the usage sink's thread (which renews them)."""

    def __init__(self) -> None:
        # Reentrant: `discard` also runs from a garbage-collection finalizer (server/quota.py),
        # which may fire in a thread that is inside `snapshot` already.
        self._lock = threading.RLock()
        self._ids: set[str] = set()

    def add(self, lease_id: str) -> None:
        with self._lock:
            self._ids.add(lease_id)

    def discard(self, lease_id: str) -> None:
        with self._lock:
            self._ids.discard(lease_id)

    def snapshot(self) -> list[str]:
        with self._lock:
            # copy() allocates nothing the collector tracks while iterating, so a finalizer
            # cannot change the set under it.
            ids = self._ids.copy()
        return list(ids)

    def __len__(self) -> int:
        return len(self._ids)
