"""Batched usage writes, off the event loop.

A finished chat completion adds its numbers to a dict here (one lock, a few additions: no I/O,
nothing per token). A thread of its own writes the dict every FLUSH_SECONDS in one transaction:
on SQLite through the database's writer thread, on PostgreSQL through a private `Database` on a
private event loop, so neither the batching timer nor the write ever takes a turn of the
server's loop. `close()` writes what is left: after a graceful shutdown (SIGTERM) nothing
acknowledged is missing; a kill -9 loses at most what was added since the last write.

The same thread renews the generation leases this replica holds (db/leases.py) every
RENEW_SECONDS, in the batch's transaction, and deletes those still held when it closes.

A failed write (database down) keeps its numbers for the next one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from chatbot_cli.db.leases import RENEW_SECONDS, LiveLeases, prune_leases, release, renew
from chatbot_cli.db.limits import DAY_SECONDS, prune_counters
from chatbot_cli.db.session import Database, PoolOptions
from chatbot_cli.db.usage import MODEL_CHARS, TokenBatch, UsageBatch, write_batch

log = logging.getLogger("chatbot.usage")

FLUSH_SECONDS = 1.0
PRUNE_EVERY = 60  # flushes between two clean-ups of the rate counters


class UsageSink:
    def __init__(self, database: Database, interval: float = FLUSH_SECONDS) -> None:
        self._database = database
        self._interval = interval
        self._lock = threading.Lock()
        self._usage: UsageBatch = {}
        self._tokens: TokenBatch = {}
        self._stop = threading.Event()
        self._flushes = 0
        self.leases = LiveLeases()
        self._renew_at = time.monotonic() + RENEW_SECONDS
        self._thread = threading.Thread(target=self._main, name="chatbot-usage", daemon=True)

    def start(self) -> UsageSink:
        self._thread.start()
        return self

    def add(self, owner: str, model: str, prompt: int, completion: int, rate: bool) -> None:
        """One chat completion. `rate`: the key has limits, so its tokens also go to the
        shared rate counters."""
        now = time.time()
        key = (owner, model[:MODEL_CHARS], int(now // 3600) * 3600)
        tokens = prompt + completion
        with self._lock:
            row = self._usage.get(key)
            if row is None:
                self._usage[key] = [1, prompt, completion]
            else:
                row[0] += 1
                row[1] += prompt
                row[2] += completion
            if rate and tokens:
                second = int(now)
                for bucket in ((owner, "s", second), (owner, "d", second // DAY_SECONDS)):
                    self._tokens[bucket] = self._tokens.get(bucket, 0) + tokens

    def close(self, timeout: float = 30.0) -> None:
        """Write what is left and stop (blocking: call it from a thread, or after the loop)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- on the sink's thread ---------------------------------------------------------------

    def _main(self) -> None:
        loop: asyncio.AbstractEventLoop | None = None
        private: Database | None = None
        write: Callable[[Callable[[Connection], Any]], Any]
        if self._database.is_sqlite:
            write = self._database.write_blocking
        else:
            loop = asyncio.new_event_loop()
            private = Database(self._database.url, PoolOptions(size=1, max_overflow=1))
            loop.run_until_complete(private.connect())

            def write(fn: Callable[[Connection], Any]) -> Any:
                assert loop is not None and private is not None
                return loop.run_until_complete(private.write(fn))

        try:
            while True:
                stopping = self._stop.wait(self._interval)
                self._flush(write, final=stopping)
                if stopping:
                    return
        finally:
            if loop is not None and private is not None:
                loop.run_until_complete(private.dispose())
                loop.close()

    def _flush(self, write: Callable[[Callable[[Connection], Any]], Any], final: bool) -> None:
        with self._lock:
            usage, self._usage = self._usage, {}
            tokens, self._tokens = self._tokens, {}
        self._flushes += 1
        prune = self._flushes % PRUNE_EVERY == 0
        leases: list[str] = []
        if final or time.monotonic() >= self._renew_at:
            leases = self.leases.snapshot()
            self._renew_at = time.monotonic() + RENEW_SECONDS
        if not usage and not tokens and not prune and not leases:
            return

        def job(conn: Connection) -> None:
            write_batch(conn, usage, tokens)
            now = time.time()
            if final:
                release(conn, leases)  # at the end nothing of this replica runs any more
            else:
                renew(conn, leases, now)
            if prune:
                prune_counters(conn, now)
                prune_leases(conn, now)

        try:
            write(job)
        except Exception as exc:
            self._renew_at = 0.0  # the next flush renews again
            requests = sum(n[0] for n in usage.values())
            if final:
                log.error("usage of %d requests could not be saved: %s", requests, exc)
                return
            log.warning("usage not saved yet (%s); retrying in %.0f s", exc, self._interval)
            self._merge_back(usage, tokens)

    def _merge_back(self, usage: UsageBatch, tokens: TokenBatch) -> None:
        with self._lock:
            for key, n in usage.items():
                row = self._usage.setdefault(key, [0, 0, 0])
                for i in range(3):
                    row[i] += n[i]
            for bucket, amount in tokens.items():
                self._tokens[bucket] = self._tokens.get(bucket, 0) + amount
