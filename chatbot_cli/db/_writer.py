"""SQLite's single writer, with group commit.

SQLite lets one connection write at a time. Writes requested during one turn of the event loop
and the next are run together, on one connection, in one transaction with one commit, right
there on the loop: a small write is tens of microseconds of SQLite and SQLAlchemy, all of it
under the GIL either way, and handing it to a thread cost far more (under load each hop waited
for the GIL on both sides; figures in docs/design.md, "Database").

That connection never waits for the file lock (busy_timeout 0) and never checkpoints the WAL
itself, so the loop is never stuck behind another process or an fsync. When another process
holds the lock (a second worker, `chatbot keys create`), the batch goes to the writer thread,
which waits for it; the thread also runs the WAL checkpoints and the migrations.

Each write keeps its own outcome. A batch that fails (one write raised, or the commit did) is
rolled back as a whole and its writes are run again one transaction each, so only the failing
one fails. Results are handed back only after the commit, so an acknowledged write is on disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

T = TypeVar("T")

# Inline commits between two WAL checkpoints (run by the thread, PASSIVE: never waits for readers).
CHECKPOINT_EVERY = 500


@dataclass(slots=True)
class _Job:
    fn: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    outcome: tuple[bool, Any] = (False, None)  # (ok, result or exception)


def _locked(exc: BaseException) -> bool:
    # Wrapped by SQLAlchemy, or raw from a write that runs on the driver's cursor (db/todos.py).
    orig = exc.orig if isinstance(exc, OperationalError) else exc
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig).lower()


class GroupWriter:
    def __init__(self, engine: Engine, *, inline: bool = True) -> None:
        """`inline=False` sends every write to the thread (a shared in-memory database, whose
        one connection the reader threads use too)."""
        self._engine = engine
        self._inline: Connection | None = None
        self._use_inline = inline
        self._pending: list[_Job] = []
        self._commits = 0
        self._closed = False
        self._queue: SimpleQueue[Callable[[], None] | None] = SimpleQueue()
        self._thread = threading.Thread(target=self._thread_main, name="chatbot-db-writer")
        self._thread.daemon = True
        self._thread.start()

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """`fn(connection)` in a transaction that is committed before this returns."""
        if self._closed:
            raise RuntimeError("the database has been closed")
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop.create_future())
        if not self._use_inline:
            self._queue.put(lambda: self._thread_batch([job], loop))
        else:
            self._pending.append(job)
            if len(self._pending) == 1:
                # A turn later: requests read in the next turn's poll reach their write by then
                # and share the commit, so a commit carries most of a busy loop's writes.
                loop.call_soon(loop.call_soon, self._flush, loop)
        return await job.future  # type: ignore[no-any-return]

    async def write_in_thread(self, fn: Callable[[Connection], T]) -> T:
        """`fn(connection)` committed on the writer thread, never on the loop: for writes nobody
        waits for (stored completions), which should cost the loop nothing but the hand-off."""
        if self._closed:
            raise RuntimeError("the database has been closed")
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop.create_future())
        self._queue.put(lambda: self._thread_batch([job], loop))
        return await job.future  # type: ignore[no-any-return]

    async def run_alone(self, fn: Callable[[], T]) -> T:
        """`fn()` on the writer thread (it manages its own connection): migrations."""
        if self._closed:
            raise RuntimeError("the database has been closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def run() -> None:
            try:
                outcome: tuple[bool, Any] = (True, fn())
            except Exception as exc:
                outcome = (False, exc)
            _call_in(loop, _settle, [(future, outcome)])

        self._queue.put(run)
        return await future

    def write_blocking(self, fn: Callable[[Connection], T]) -> T:
        """`fn(connection)` in its own transaction on the writer thread, waited for by the
        calling thread, which must not be the event loop's: batched bookkeeping
        (db/usage_sink.py) that should never take a turn of the loop."""
        if self._closed:
            raise RuntimeError("the database has been closed")
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                with self._engine.begin() as conn:
                    result = fn(conn)
            except Exception as exc:
                done.set_exception(exc)
            else:
                done.set_result(result)  # only now: the transaction is committed

        self._queue.put(run)
        return done.result()

    async def aclose(self) -> None:
        """Finish every write already asked for, then stop the thread."""
        while self._pending:
            await asyncio.sleep(0)  # the flush is already scheduled on this loop
        self._closed = True
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        if self._inline is not None:
            self._inline.close()
            self._inline = None

    # -- on the event loop ------------------------------------------------------------------

    def _connection(self) -> Connection:
        if self._inline is None:
            conn = self._engine.connect()
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            conn.commit()
            self._inline = conn
        return self._inline

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending = self._pending, []
        try:
            conn = self._connection()
            with conn.begin():
                for job in batch:
                    job.outcome = (True, job.fn(conn))
        except Exception as exc:
            # Another process holds the lock, or one write failed: the thread waits for the
            # lock, and runs the writes one by one if the batch fails again.
            retry = batch if _locked(exc) or len(batch) > 1 else []
            if retry:
                self._queue.put(lambda: self._thread_batch(retry, loop))
                return
            batch[0].outcome = (False, exc)
        _settle_jobs(batch)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0:
            self._queue.put(self._checkpoint)

    # -- on the writer thread ---------------------------------------------------------------

    def _thread_main(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            task()

    def _thread_batch(self, batch: list[_Job], loop: asyncio.AbstractEventLoop) -> None:
        try:
            with self._engine.begin() as conn:
                for job in batch:
                    job.outcome = (True, job.fn(conn))
        except Exception as exc:
            if len(batch) == 1:
                batch[0].outcome = (False, exc)
            else:
                for job in batch:
                    self._thread_one(job)
        _call_in(loop, _settle_jobs, batch)

    def _thread_one(self, job: _Job) -> None:
        try:
            with self._engine.begin() as conn:
                job.outcome = (True, job.fn(conn))
        except Exception as exc:
            job.outcome = (False, exc)

    def _checkpoint(self) -> None:
        # A failed checkpoint costs nothing but WAL size: the next one catches up.
        with contextlib.suppress(Exception), self._engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def _call_in(loop: asyncio.AbstractEventLoop, fn: Callable[[Any], None], arg: Any) -> None:
    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
        loop.call_soon_threadsafe(fn, arg)


def _settle_jobs(jobs: list[_Job]) -> None:
    _settle([(job.future, job.outcome) for job in jobs])


def _settle(items: list[tuple[asyncio.Future[Any], tuple[bool, Any]]]) -> None:
    for future, (ok, value) in items:
        if future.done():  # the caller was cancelled (client went away)
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
