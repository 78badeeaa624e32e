"""Per-key accounting and limits for chat completions (issue 17), between auth and the engine.

`Quota.admit` runs before a completion takes any slot: for a key with limits it checks them
against the counters shared by every replica (db/limits.py) and counts the request; the
returned `Ticket` records the completion's usage when the response ends, however it ends
(finished, cut, failed), into the batched sink (db/usage_sink.py).

A key's limits are cached in memory for LIMITS_REFRESH_SECONDS (a stale entry is served while
one read refreshes it), so a key without limits costs a dict lookup and never a query; the key
in the config file ("default") has none. `--concurrent` holds across every replica sharing
the database: an admission takes a generation lease (db/leases.py) in the transaction that
checks the other limits, and the ticket gives it back when the response ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from chatbot_cli.db.leases import LEASE_SECONDS, Lease, release
from chatbot_cli.db.limits import (
    NO_LIMITS,
    KeyLimits,
    Verdict,
    admit,
    peek,
    read_limits,
    retry_seconds,
)
from chatbot_cli.db.models import DEFAULT_OWNER
from chatbot_cli.db.session import Database
from chatbot_cli.db.usage_sink import UsageSink
from chatbot_cli.errors import InvalidRequest, RateLimitExceeded

if TYPE_CHECKING:
    from chatbot_cli.server.fanout import FanOut

log = logging.getLogger("chatbot.usage")

LIMITS_REFRESH_SECONDS = 5.0
RATELIMIT_HEADERS = tuple(
    f"x-ratelimit-{what}-{unit}"
    for unit in ("requests", "tokens")
    for what in ("limit", "remaining", "reset")
)

_NAMES = {
    "requests_per_minute": "{n} requests per minute",
    "tokens_per_minute": "{n} tokens per minute",
    "tokens_per_day": "{n} tokens per day",
    "concurrent_requests": "{n} concurrent requests",
}


def reset_text(seconds: float) -> str:
    """A duration as OpenAI's x-ratelimit-reset-* headers write it: seconds, minutes and
    seconds, or milliseconds below one second."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def wait_text(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(slots=True)
class _Cached:
    limits: KeyLimits
    expires: float
    refreshing: bool = False


@dataclass(slots=True, weakref_slot=True)
class Ticket:
    """One admitted completion; `finish` is idempotent (a response has several ways to end)."""

    quota: Quota | None
    owner: str
    model: str
    limits: KeyLimits
    weight: int
    headers: dict[str, str] = field(default_factory=dict)
    done: bool = False
    # The generation lease of a key with a concurrency cap, until it is given back.
    lease: str | None = None

    async def release(self) -> None:
        """Give the key's share back before the response's last bytes go out: a client that
        sends its next request as soon as it has the answer must find the share free, on
        whichever replica it lands."""
        if self.lease is not None and self.quota is not None:
            lease, self.lease = self.lease, None
            # Shielded: a client gone at this moment must not leave the lease behind.
            await asyncio.shield(self.quota.release_soon(lease))

    def finish(self, fan: FanOut) -> None:
        """Record what `fan`'s choices used so far: the whole completion, or the part a
        client that went away, an error or a shutdown let it produce."""
        if self.done or self.quota is None:
            return
        self.done = True
        quota = self.quota
        if self.lease is not None:
            lease, self.lease = self.lease, None
            quota.release_soon(lease)
        usage = fan.usage()
        quota.sink.add(
            self.owner,
            self.model,
            usage["prompt_tokens"],
            usage["completion_tokens"],
            self.limits.counted,
        )


class Quota:
    def __init__(self, database: Database, sink: UsageSink) -> None:
        self.database = database
        self.sink = sink
        self._cache: dict[str, _Cached] = {}
        # Per key, the time before which a refused limit cannot admit anyone: counts in the
        # window only fall with time, so this replica refuses without a query until then.
        self._blocked: dict[str, tuple[float, str, KeyLimits]] = {}
        self._last_headers: dict[str, dict[str, str]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()
        self._releasing: set[asyncio.Task[None]] = set()

    @classmethod
    def start(cls, database: Database) -> Quota:
        return cls(database, UsageSink(database).start())

    async def aclose(self) -> None:
        await asyncio.gather(*self._releasing, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, self.sink.close)

    def release_soon(self, lease: str) -> asyncio.Task[None]:
        """Delete a generation lease in a task of its own (the caller may be a `finally`)."""
        task = asyncio.get_running_loop().create_task(self._release(lease))
        self._releasing.add(task)  # a task nobody references may be collected mid-way
        task.add_done_callback(self._releasing.discard)
        return task

    async def _release(self, lease: str) -> None:
        try:
            await self.database.write(lambda conn: release(conn, [lease]))
        except Exception as exc:
            # No longer renewed, it stops counting within LEASE_SECONDS.
            log.warning(
                "generation lease not released (%s); it expires within %.0f s", exc, LEASE_SECONDS
            )
        finally:
            self.sink.leases.discard(lease)

    async def limits_for(self, owner: str) -> KeyLimits:
        if owner == DEFAULT_OWNER:
            return NO_LIMITS
        now = time.monotonic()
        cached = self._cache.get(owner)
        if cached is None:
            limits = await read_limits(self.database, owner)
            self._cache[owner] = _Cached(limits, now + LIMITS_REFRESH_SECONDS)
            return limits
        if now >= cached.expires and not cached.refreshing:
            cached.refreshing = True
            task = asyncio.get_running_loop().create_task(self._refresh(owner, cached))
            self._refreshing.add(task)  # a task nobody references may be collected mid-way
            task.add_done_callback(self._refreshing.discard)
        return cached.limits

    async def _refresh(self, owner: str, cached: _Cached) -> None:
        try:
            limits = await read_limits(self.database, owner)
        except Exception:
            cached.refreshing = False  # the next request tries again; the old limits hold
            return
        self._cache[owner] = _Cached(limits, time.monotonic() + LIMITS_REFRESH_SECONDS)

    def status_headers(self, owner: str) -> dict[str, str] | None:
        """The x-ratelimit headers this replica last computed for `owner` (for /v1 routes
        that are not counted, such as /v1/models)."""
        if owner == DEFAULT_OWNER:
            return None
        return self._last_headers.get(owner)

    async def current_headers(self, owner: str) -> dict[str, str] | None:
        """`status_headers`, or for a key with counted limits this replica has not admitted
        yet (since a restart, or it went to another replica), a read-only check's, cached like
        the rest: issue 17 puts them on every /v1 response of a limited key."""
        headers = self.status_headers(owner)
        if headers is not None or owner == DEFAULT_OWNER:
            return headers
        try:
            limits = await self.limits_for(owner)
            if not limits.counted:
                return None
            now = time.time()
            verdict = await self.database.read(lambda conn: peek(conn, owner, limits, now))
        except Exception as exc:
            # Headers are information: a database that cannot answer must not fail the route.
            log.warning("x-ratelimit headers not computed for key '%s' (%s)", owner, exc)
            return None
        # An admission that finished meanwhile has the newer figures: keep them.
        return self._last_headers.setdefault(owner, rate_headers(limits, verdict))

    async def admit(self, owner: str, model: str, weight: int) -> Ticket:
        """Check and count one completion of `weight` choices, or raise RateLimitExceeded."""
        limits = await self.limits_for(owner)
        ticket = Ticket(self, owner, model, limits, weight)
        if not limits.any:
            return ticket
        lease = None
        if limits.concurrent is not None:
            if weight > limits.concurrent:
                raise InvalidRequest(
                    f"n is {weight}, but this key may run at most {limits.concurrent} "
                    "generations at once.",
                    param="n",
                )
            lease = Lease.new(weight)
        now = time.time()
        if limits.counted:
            self._check_blocked(owner, limits, now)
        verdict = await self.database.write(lambda conn: admit(conn, owner, limits, now, lease))
        if verdict.refused == "concurrent_requests":
            raise RateLimitExceeded(
                f"Rate limit reached for key '{owner}': {limits.concurrent} concurrent requests. "
                "Try again in 1 s, when one of them has finished.",
                retry_after=retry_seconds(verdict.retry_after),
                code="concurrent_requests",
            )
        if limits.counted:
            ticket.headers = self._last_headers[owner] = rate_headers(limits, verdict)
        if verdict.refused is not None:
            self._blocked[owner] = (now + verdict.retry_after, verdict.refused, limits)
            raise refusal(owner, verdict.refused, limits, verdict.retry_after)
        if lease is not None:
            ticket.lease = lease.id
            self.sink.leases.add(lease.id)
            # A ticket dropped without `finish` (a response that never ran) stops renewing its
            # lease, which then expires: a lost ticket cannot hold a share for ever.
            weakref.finalize(ticket, self.sink.leases.discard, lease.id)
        return ticket

    def _check_blocked(self, owner: str, limits: KeyLimits, now: float) -> None:
        blocked = self._blocked.get(owner)
        if blocked is not None:
            until, code, when_limits = blocked
            if now < until and when_limits == limits:
                raise refusal(owner, code, limits, until - now)
            del self._blocked[owner]


def refusal(owner: str, code: str, limits: KeyLimits, wait: float) -> RateLimitExceeded:
    seconds = retry_seconds(wait)
    attr = {"requests_per_minute": "rpm", "tokens_per_minute": "tpm"}.get(code, code)
    what = _NAMES[code].format(n=getattr(limits, attr))
    return RateLimitExceeded(
        f"Rate limit reached for key '{owner}': {what}. Try again in {wait_text(seconds)}.",
        retry_after=seconds,
        code=code,
    )


def rate_headers(limits: KeyLimits, verdict: Verdict) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers for the limits a key has."""
    headers: dict[str, str] = {}
    if limits.rpm is not None and verdict.remaining_requests is not None:
        headers["x-ratelimit-limit-requests"] = str(limits.rpm)
        headers["x-ratelimit-remaining-requests"] = str(verdict.remaining_requests)
        headers["x-ratelimit-reset-requests"] = reset_text(verdict.reset_requests)
    token_limit = limits.tpm if limits.tpm is not None else limits.tokens_per_day
    if token_limit is not None and verdict.remaining_tokens is not None:
        headers["x-ratelimit-limit-tokens"] = str(token_limit)
        headers["x-ratelimit-remaining-tokens"] = str(verdict.remaining_tokens)
        headers["x-ratelimit-reset-tokens"] = reset_text(verdict.reset_tokens)
    return headers


# Where the x-ratelimit headers of a response wait for server/limits.py to send them.
HEADERS_STATE = "response_headers"


async def admit_request(quota: Quota | None, request: Request, model: str, n: int) -> Ticket:
    """`Quota.admit` for one request; the key's x-ratelimit headers go on its response, the
    429 included."""
    owner: str = getattr(request.state, "owner", DEFAULT_OWNER)
    if quota is None:
        return Ticket(None, owner, model, NO_LIMITS, n)
    try:
        return await quota.admit(owner, model, n)
    finally:
        headers = quota.status_headers(owner)
        if headers:
            setattr(request.state, HEADERS_STATE, headers)


async def ratelimit_status(request: Request) -> None:
    """Router dependency: a limited key's last known x-ratelimit headers on every /v1
    response, not only on the completions that count."""
    quota: Quota | None = getattr(request.app.state, "quota", None)
    owner = getattr(request.state, "owner", DEFAULT_OWNER)
    if quota is not None and owner != DEFAULT_OWNER:
        headers = await quota.current_headers(owner)
        if headers:
            setattr(request.state, HEADERS_STATE, headers)
