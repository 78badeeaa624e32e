"""The database check behind /health, on its own thread and its own connection.

Checked through the request path, /health answered "database down" while one large request kept
the event loop busy or held every pooled connection (issue 22): its timeout ran on the loop
it was waiting for, and its query queued behind the pool. Here the check runs on a thread with
its own event loop and one connection of its own, and its timeouts are measured there, so only the
database itself being unreachable or hung makes it fail. Checks asked for while one is running
share its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

CHECK_TIMEOUT_S = 5.0


class DatabaseCheck:
    def __init__(self, url: str, *, timeout: float = CHECK_TIMEOUT_S) -> None:
        """`url` as `Database.url` holds it (sqlite+aiosqlite:// or postgresql+asyncpg://)."""
        parsed = make_url(url)
        self._sqlite = parsed.get_backend_name() == "sqlite"
        self._target = (
            parsed.database or ":memory:"
            if self._sqlite
            else parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="chatbot-health", daemon=True
        )
        self._thread.start()
        self._conn: Any = None
        self._running: Future[bool] | None = None

    async def ok(self) -> bool:
        """Whether the database answers a query now (one check at a time, shared)."""
        running = self._running
        if running is None or running.done():
            running = asyncio.run_coroutine_threadsafe(self._check(), self._loop)
            self._running = running
        return await asyncio.wrap_future(running)

    def close(self) -> None:
        async def stop() -> None:
            await self._drop()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(self._timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout)
        if not self._thread.is_alive():
            self._loop.close()

    # -- on the check's own thread --------------------------------------------------------------

    async def _check(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                if self._sqlite:
                    self._sqlite_check()
                else:
                    await self._postgres_check()
            return True
        except Exception:
            await self._drop()  # the next check starts on a fresh connection
            return False

    def _sqlite_check(self) -> None:
        if self._conn is None:
            if self._target != ":memory:" and not Path(self._target).exists():
                raise FileNotFoundError(self._target)
            conn = sqlite3.connect(self._target, timeout=self._timeout, check_same_thread=False)
            self._conn = conn
        # Reads the schema from the file: a lost or unreadable file fails here.
        self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()

    async def _postgres_check(self) -> None:
        import asyncpg

        if self._conn is None:
            self._conn = await asyncpg.connect(self._target, timeout=self._timeout)
        await self._conn.fetchval("SELECT 1")

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            if self._sqlite:
                conn.close()
            else:
                conn.terminate()
