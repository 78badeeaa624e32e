"""The async `Database`: engines, SQLite pragmas, the single SQLite writer and Alembic migrations.

Queries are plain synchronous functions of a SQLAlchemy `Connection`, run by `Database.read` and
`Database.write` in one transaction each:
- PostgreSQL: on the asyncpg engine, through `AsyncConnection.run_sync`.
- SQLite: on the stdlib driver in worker threads. The whole transaction runs in one hop to a thread
  (aiosqlite would hop for every cursor, execute, fetch, commit and reset, and under load each hop
  waits for the GIL). Writes go to one dedicated thread, so writers queue instead of colliding on
  the file lock ("database is locked"); WAL keeps readers off that queue. A committed transaction
  is in the WAL before the response goes out, so it survives the server being killed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from chatbot_cli.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_READERS = 4
BUSY_TIMEOUT_MS = 10_000


def normalize_url(url: str) -> str:
    """Pick the async driver for the plain URLs people write (postgres://, sqlite://)."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # busy_timeout first, so switching to WAL waits for another process instead of failing.
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic settings built in code: no alembic.ini to ship or to find."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class Database:
    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self._async: AsyncEngine | None = None
        self._sync: Engine | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None

    async def connect(self) -> None:
        if self._async is not None or self._sync is not None:
            return
        try:
            if self.is_sqlite:
                self._connect_sqlite()
            else:
                self._async = create_async_engine(
                    self.url, pool_size=10, max_overflow=20, pool_pre_ping=True
                )
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise ConfigError(f"Cannot use database URL {redact(self.url)}: {exc}") from None

    def _connect_sqlite(self) -> None:
        url = make_url(self.url).set(drivername="sqlite")
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if not url.database or url.database == ":memory:":
            # One shared connection, or every checkout would see a different empty database.
            kwargs["poolclass"] = StaticPool
        else:
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self._sync = create_engine(url, **kwargs)
        event.listen(self._sync, "connect", _sqlite_pragmas)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="chatbot-db-writer")
        self._readers = ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="chatbot-db-reader")

    async def dispose(self) -> None:
        if self._async is not None:
            await self._async.dispose()
            self._async = None
        if self._sync is not None:
            for pool in (self._writer, self._readers):
                if pool is not None:
                    await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)
            self._sync.dispose()
            self._sync = None

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispose()

    def _require(self) -> None:
        if self._async is None and self._sync is None:
            raise RuntimeError("Database.connect() has not been called")

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(connection)` for reading."""
        self._require()
        if self._sync is not None:
            engine = self._sync

            def job() -> T:
                with engine.connect() as conn:
                    return fn(conn)

            return await asyncio.get_running_loop().run_in_executor(self._readers, job)
        assert self._async is not None
        async with self._async.connect() as conn:
            return await conn.run_sync(fn)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(connection)` in one transaction, committed before this returns (rolled back
        if `fn` raises)."""
        self._require()
        if self._sync is not None:
            engine = self._sync

            def job() -> T:
                with engine.begin() as conn:
                    return fn(conn)

            return await asyncio.get_running_loop().run_in_executor(self._writer, job)
        assert self._async is not None
        async with self._async.begin() as conn:
            return await conn.run_sync(fn)

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(5):
                await self.read(lambda conn: conn.execute(text("SELECT 1")).scalar())
            return True
        except (SQLAlchemyError, OSError, TimeoutError, RuntimeError):
            return False

    # -- migrations ----------------------------------------------------------------------------

    async def _migrate(self, fn: Callable[[Connection], T]) -> T:
        def job(conn: Connection) -> T:
            result = fn(conn)
            conn.commit()
            return result

        try:
            if self._sync is not None:
                engine = self._sync

                def run() -> T:
                    with engine.connect() as conn:
                        return job(conn)

                return await asyncio.get_running_loop().run_in_executor(self._writer, run)
            self._require()
            assert self._async is not None
            async with self._async.connect() as conn:
                return await conn.run_sync(job)
        except (DBAPIError, OSError) as exc:
            reason = getattr(exc, "orig", None) or exc
            raise ConfigError(f"Cannot open the database at {redact(self.url)}: {reason}") from None

    async def upgrade(self, revision: str = "head") -> None:
        """Apply pending migrations (a no-op when already at head)."""

        def run(conn: Connection) -> None:
            from alembic import command

            command.upgrade(alembic_config(conn), revision)

        await self._migrate(run)

    async def current(self) -> tuple[str | None, str | None]:
        """(revision the database is at, newest revision shipped)."""

        def run(conn: Connection) -> tuple[str | None, str | None]:
            from alembic.runtime.migration import MigrationContext
            from alembic.script import ScriptDirectory

            current = MigrationContext.configure(conn).get_current_revision()
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            return current, head

        return await self._migrate(run)

    async def revision(self, message: str, autogenerate: bool = True) -> list[str]:
        """Write a new migration file (diffed against the models); returns the paths written."""

        def run(conn: Connection) -> list[str]:
            from alembic import command

            scripts = command.revision(
                alembic_config(conn), message=message, autogenerate=autogenerate
            )
            items = scripts if isinstance(scripts, list) else [scripts]
            return [s.path for s in items if s is not None]

        return await self._migrate(run)
