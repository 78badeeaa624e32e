"""Per-key rate limits (`chatbot keys limit`) and the admission check every replica runs against
the shared counters.

Requests and tokens are counted per key in one-second buckets (`rate_counters`, kind "s"); a
limit per minute is checked against the sum of the last 60 buckets, a sliding window, so a key
limited to 60 requests a minute gets 60 in any minute, never 120 across a window's edge. Tokens
per day are counted per UTC day (kind "d"). The check and the count happen in one transaction
that first locks the key's row, so replicas sharing PostgreSQL admit one after the other and
never both take the last request of a window. On SQLite the single writer already serialises.
A `--concurrent` cap is checked in the same transaction against the key's generation leases
(db/leases.py), so it too holds across replicas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, select, update

from chatbot_cli.db.leases import Lease, held, take
from chatbot_cli.db.models import api_keys, rate_counters
from chatbot_cli.db.session import Database
from chatbot_cli.errors import NotFound

WINDOW_SECONDS = 60
DAY_SECONDS = 86_400
# The columns of api_keys, by the name `chatbot keys limit` and the JSON output use.
LIMIT_COLUMNS = {
    "rpm": "rpm_limit",
    "tpm": "tpm_limit",
    "tokens_per_day": "tokens_per_day_limit",
    "concurrent": "concurrent_limit",
}


@dataclass(frozen=True, slots=True)
class KeyLimits:
    rpm: int | None = None
    tpm: int | None = None
    tokens_per_day: int | None = None
    concurrent: int | None = None

    @property
    def any(self) -> bool:
        return self.counted or self.concurrent is not None

    @property
    def counted(self) -> bool:
        """Whether requests and tokens go to the shared counters (a concurrency cap alone
        needs none)."""
        return any(v is not None for v in (self.rpm, self.tpm, self.tokens_per_day))

    def as_dict(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in LIMIT_COLUMNS}


NO_LIMITS = KeyLimits()


@dataclass(slots=True)
class Verdict:
    """The outcome of one admission: `refused` names the limit (an error code), `retry_after`
    the seconds until it would admit; the remaining counts feed the x-ratelimit headers."""

    refused: str | None = None
    retry_after: float = 0.0
    remaining_requests: int | None = None
    reset_requests: float = 0.0
    remaining_tokens: int | None = None
    reset_tokens: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


def upsert_add(conn: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]]) -> None:
    """Insert each row, or add its other columns to the row already there with the same keys."""
    if not rows:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt: Any = dialect.insert(table)
    adds = [c for c in rows[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c: table.c[c] + stmt.excluded[c] for c in adds}
    )
    conn.execute(stmt, rows)


async def read_limits(db: Database, owner: str) -> KeyLimits:
    """The limits of an unrevoked key (none for an unknown or revoked one)."""
    stmt = select(*(api_keys.c[c] for c in LIMIT_COLUMNS.values())).where(
        api_keys.c.name == owner, api_keys.c.revoked_at.is_(None)
    )
    row = await db.read(lambda conn: conn.execute(stmt).first())
    if row is None:
        return NO_LIMITS
    return KeyLimits(*row)


async def set_limits(db: Database, name: str, values: dict[str, int | None]) -> KeyLimits:
    """Set the given limits (None clears one); the others stay. Unknown name → NotFound."""
    columns = {LIMIT_COLUMNS[k]: v for k, v in values.items()}

    def run(conn: Connection) -> Any:
        if columns:
            conn.execute(update(api_keys).where(api_keys.c.name == name).values(**columns))
        stmt = select(*(api_keys.c[c] for c in LIMIT_COLUMNS.values()))
        return conn.execute(stmt.where(api_keys.c.name == name)).first()

    row = await db.write(run)
    if row is None:
        raise NotFound(f"No API key named '{name}'.")
    return KeyLimits(*row)


def _time_to_free(buckets: list[tuple[int, int]], excess: int, now: float) -> float:
    """Seconds until `excess` of what the (bucket, amount) pairs count has left the window."""
    freed = 0
    for bucket, amount in buckets:
        freed += amount
        if freed >= excess:
            return max(0.0, bucket + WINDOW_SECONDS - now)
    return float(WINDOW_SECONDS)


def _per_minute(
    buckets: list[tuple[int, int]], limit: int, now: float
) -> tuple[int, float, float | None]:
    """One per-minute limit over the window's (bucket, amount) pairs, oldest first: what is left,
    the seconds until the window resets, and the wait before it admits again (None: admitted).
    Requests and tokens are the same check over different columns."""
    used = sum(amount for _, amount in buckets)
    oldest = next((bucket for bucket, amount in buckets if amount), None)
    reset = 0.0 if oldest is None else oldest + WINDOW_SECONDS - now
    if used < limit:
        return limit - used, reset, None
    wait = _time_to_free(buckets, used - limit + 1, now)
    return 0, wait, wait


def _refuse(verdict: Verdict, limit: str, wait: float) -> Verdict:
    verdict.refused, verdict.retry_after = limit, wait
    return verdict


# Whole seconds a refusal of the concurrency cap asks to wait: a generation may end any time.
CONCURRENT_RETRY_SECONDS = 1.0


def admit(
    conn: Connection, owner: str, limits: KeyLimits, now: float, lease: Lease | None = None
) -> Verdict:
    """Check `owner`'s counters and leases against its limits and, if admitted, count one
    request and take `lease` (given when the key has a concurrency cap). Runs inside one write
    transaction (`Database.write`)."""
    # Replicas serialise here: the key's row is locked until this transaction commits.
    conn.execute(select(api_keys.c.id).where(api_keys.c.name == owner).with_for_update())
    cap = limits.concurrent
    if lease is not None and cap is not None and held(conn, owner, now) + lease.weight > cap:
        return _refuse(Verdict(), "concurrent_requests", CONCURRENT_RETRY_SECONDS)
    verdict = _count(conn, owner, limits, now) if limits.counted else Verdict()
    if verdict.refused is None and lease is not None:
        take(conn, owner, lease, now)
    return verdict


def measure(conn: Connection, owner: str, limits: KeyLimits, now: float) -> Verdict:
    """What is left of each counted limit and which one refuses, counting nothing. Every
    remaining count is computed before the refusal is chosen, so a refused request's headers
    describe all the key's limits, and the refusal named is the one with the longest wait:
    Retry-After is when a request can be admitted again."""
    second = int(now)
    day = second // DAY_SECONDS
    c = rate_counters.c
    rows = conn.execute(
        select(c.bucket, c.requests, c.tokens)
        .where(c.owner == owner, c.kind == "s", c.bucket > second - WINDOW_SECONDS)
        .order_by(c.bucket)
    ).all()
    verdict = Verdict()
    refusals: list[tuple[str, float]] = []
    if limits.rpm is not None:
        requests = [(r.bucket, r.requests) for r in rows]
        verdict.remaining_requests, verdict.reset_requests, wait = _per_minute(
            requests, limits.rpm, now
        )
        if wait is not None:
            refusals.append(("requests_per_minute", wait))
    day_tokens = 0
    if limits.tokens_per_day is not None:
        counted = conn.execute(
            select(c.tokens).where(c.owner == owner, c.kind == "d", c.bucket == day)
        ).scalar()
        day_tokens = int(counted or 0)
    if limits.tpm is not None:
        tokens = [(r.bucket, r.tokens) for r in rows]
        verdict.remaining_tokens, verdict.reset_tokens, wait = _per_minute(tokens, limits.tpm, now)
        if wait is not None:
            refusals.append(("tokens_per_minute", wait))
    elif limits.tokens_per_day is not None:
        # Without a per-minute token limit the token headers describe the daily one.
        verdict.remaining_tokens = max(0, limits.tokens_per_day - day_tokens)
        verdict.reset_tokens = (day + 1) * DAY_SECONDS - now
    if limits.tokens_per_day is not None and day_tokens >= limits.tokens_per_day:
        refusals.append(("tokens_per_day", (day + 1) * DAY_SECONDS - now))
    if refusals:
        return _refuse(verdict, *max(refusals, key=lambda r: r[1]))
    return verdict


def peek(conn: Connection, owner: str, limits: KeyLimits, now: float) -> Verdict:
    """`admit`'s verdict on the counted limits, counting nothing, taking no lease and locking
    no row: the x-ratelimit headers of a key this replica has not admitted yet."""
    return measure(conn, owner, limits, now) if limits.counted else Verdict()


def _count(conn: Connection, owner: str, limits: KeyLimits, now: float) -> Verdict:
    """The per-minute and per-day checks, and the count of an admitted request."""
    verdict = measure(conn, owner, limits, now)
    if verdict.refused is not None:
        return verdict
    second = int(now)
    day = second // DAY_SECONDS
    upsert_add(
        conn,
        rate_counters,
        ["owner", "kind", "bucket"],
        # In the order the usage sink writes them ("d" before "s", db/usage.write_batch sorts),
        # so two transactions never wait for each other's row locks on PostgreSQL.
        [
            {"owner": owner, "kind": "d", "bucket": day, "requests": 1, "tokens": 0},
            {"owner": owner, "kind": "s", "bucket": second, "requests": 1, "tokens": 0},
        ],
    )
    if verdict.remaining_requests is not None:
        verdict.remaining_requests -= 1
        if verdict.reset_requests <= 0:
            verdict.reset_requests = second + WINDOW_SECONDS - now
    return verdict


def prune_counters(conn: Connection, now: float) -> None:
    """Drop buckets no check reads any more: seconds older than two windows, days before
    yesterday."""
    second = int(now)
    c = rate_counters.c
    conn.execute(
        rate_counters.delete().where(c.kind == "s", c.bucket <= second - 2 * WINDOW_SECONDS)
    )
    conn.execute(rate_counters.delete().where(c.kind == "d", c.bucket < second // DAY_SECONDS - 1))


def retry_seconds(wait: float) -> int:
    """A Retry-After value: whole seconds, at least 1."""
    return max(1, math.ceil(wait))
