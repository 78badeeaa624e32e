"""The async `Database`: engines, SQLite pragmas, the single SQLite writer and Alembic migrations.

Queries are plain synchronous functions of a SQLAlchemy `Connection`, run by `Database.read` and
`Database.write` in one transaction each:
- PostgreSQL: on the asyncpg engine, through `AsyncConnection.run_sync`, with a configurable
  pool (`PoolOptions`). Dead pooled connections are replaced at checkout, a connection lost
  mid-transaction is retried once, and an unreachable server is `DatabaseUnavailable` (503),
  never a 500; the pool reconnects by itself when the server is back.
- SQLite: on the stdlib driver. A read runs in a worker thread, the whole transaction in one hop
  (aiosqlite would hop for every cursor, execute, fetch, commit and reset, and under load each hop
  waits for the GIL). Writes go through one writer (`_writer.GroupWriter`): the writes of one
  event-loop turn share one transaction and one commit on one connection, so writers never
  collide on the file lock ("database is locked"); WAL keeps readers off it. A committed
  transaction is in the WAL before the response goes out, so it survives the server being killed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from chatbot_cli.config import redact_url
from chatbot_cli.db._writer import GroupWriter
from chatbot_cli.errors import ConfigError, DatabaseUnavailable, Overloaded
from chatbot_cli.perms import private_sqlite

if TYPE_CHECKING:
    from alembic.config import Config

    from chatbot_cli.config import Settings

T = TypeVar("T")

log = logging.getLogger("chatbot.db")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest migration shipped. A database already there is recognised with one query, without
# importing Alembic, which would otherwise stay in the server's memory for its whole life.
# tests/db/test_migrations.py fails when a migration is added and this is not moved on.
HEAD_REVISION = "0007_generation_leases"
SQLITE_READERS = 4
BUSY_TIMEOUT_MS = 10_000
# Any fixed number: replicas starting at once serialise their migrations on this lock.
MIGRATION_LOCK_ID = 0x63686174626F74
RETRY_PAUSE_S = 0.1


@dataclass(frozen=True)
class PoolOptions:
    """Connection pool for PostgreSQL (SQLite has its own fixed threads)."""

    size: int = 10
    max_overflow: int = 20
    timeout: float = 30.0
    connect_timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolOptions:
        return cls(
            size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            timeout=settings.db_pool_timeout,
            connect_timeout=settings.db_connect_timeout,
        )


# SQLSTATEs that mean "no usable connection" rather than "bad statement": class 08 (connection
# exception), 57P01-57P03 (admin/crash shutdown, starting up), 53300 (too many connections).
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "53300")


def _is_disconnect(exc: BaseException) -> bool:
    """A failure of the connection itself (not of the statement): the server went away, was
    restarted, is starting up, or killed our backend."""
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or ""
        return bool(exc.connection_invalidated) or state.startswith(_UNAVAILABLE_STATES)
    return isinstance(exc, OSError)


def normalize_url(url: str) -> str:
    """Pick the asyncpg driver for the plain PostgreSQL URLs people write (postgres://...).
    SQLite URLs stay as given: they run on the stdlib driver (`Database._connect_sqlite`)."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


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
    def __init__(self, url: str, pool: PoolOptions | None = None) -> None:
        """`pool`: PostgreSQL pool options, PoolOptions' defaults when not given. Nothing here
        reads the configuration: `from_settings` is how the server and CLI pass theirs."""
        self.url = normalize_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self.pool = pool or PoolOptions()
        self._async: AsyncEngine | None = None
        self._sync: Engine | None = None
        self._writer: GroupWriter | None = None
        self._readers: ThreadPoolExecutor | None = None

    async def connect(self) -> None:
        if self._async is not None or self._sync is not None:
            return
        try:
            if self.is_sqlite:
                self._connect_sqlite()
            else:
                self._async = self._create_async_engine()
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise ConfigError(f"Cannot use database URL {redact_url(self.url)}: {exc}") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.effective_database_url, PoolOptions.from_settings(settings))

    def _create_async_engine(self) -> AsyncEngine:
        return create_async_engine(
            self.url,
            pool_size=self.pool.size,
            max_overflow=self.pool.max_overflow,
            pool_timeout=self.pool.timeout,
            # A pooled connection the server dropped (restart, idle timeout, terminated
            # backend) is noticed and replaced at checkout instead of failing the request.
            pool_pre_ping=True,
            connect_args={"timeout": self.pool.connect_timeout},
        )

    def _connect_sqlite(self) -> None:
        url = make_url(self.url).set(drivername="sqlite")
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if not url.database or url.database == ":memory:":
            # One shared connection, or every checkout would see a different empty database.
            kwargs["poolclass"] = StaticPool
        else:
            private_sqlite(Path(url.database).expanduser())
        self._sync = create_engine(url, **kwargs)
        event.listen(self._sync, "connect", _sqlite_pragmas)
        self._writer = GroupWriter(self._sync, inline="poolclass" not in kwargs)
        self._readers = ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="chatbot-db-reader")

    async def dispose(self) -> None:
        if self._async is not None:
            await self._async.dispose()
            self._async = None
        if self._sync is not None:
            loop = asyncio.get_running_loop()
            if self._writer is not None:
                await self._writer.aclose()
                self._writer = None
            if self._readers is not None:
                await loop.run_in_executor(None, self._readers.shutdown)
                self._readers = None
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
        return await self._run_async(fn, commit=False)

    async def write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(connection)` in one transaction, committed before this returns (rolled back
        if `fn` raises)."""
        self._require()
        if self._writer is not None:
            return await self._writer.write(fn)
        return await self._run_async(fn, commit=True)

    def write_blocking(self, fn: Callable[[Connection], T]) -> T:
        """SQLite only: `fn(connection)` committed on the writer thread, for a thread other
        than the event loop's (PostgreSQL has no synchronous driver here: such a thread opens
        its own `Database` on a loop of its own)."""
        if self._writer is None:
            raise RuntimeError("write_blocking needs an open SQLite database")
        return self._writer.write_blocking(fn)

    async def write_off_loop(self, fn: Callable[[Connection], T]) -> T:
        """Like `write`, for work nobody is waiting for: on SQLite it runs on the writer thread
        instead of the event loop; on PostgreSQL the loop only waits for the server."""
        self._require()
        if self._writer is not None:
            return await self._writer.write_in_thread(fn)
        return await self._run_async(fn, commit=True)

    async def _run_async(
        self, fn: Callable[[Connection], T], *, commit: bool, retry: bool = True
    ) -> T:
        """One transaction on the pool. A connection lost before the commit is retried once on
        a fresh connection: the server rolled the transaction back, so running it again cannot
        apply it twice. A failure during the commit itself is not retried (the outcome is
        unknown). Still no connection on the second try: `DatabaseUnavailable` (503)."""
        assert self._async is not None
        for attempt in (1, 2) if retry else (2,):
            try:
                async with self._async.connect() as conn:
                    result = await conn.run_sync(fn)
                    if not commit:
                        return result
                    return await self._commit(conn, result)
            except PoolTimeout:
                raise DatabaseUnavailable(
                    "The database is busy: no free connection. Try again.", retry_after=1
                ) from None
            except (DBAPIError, OSError) as exc:
                if not _is_disconnect(exc):
                    raise
                if attempt == 1:
                    log.warning("database connection lost, retrying once: %s", _reason(exc))
                    await asyncio.sleep(RETRY_PAUSE_S)
                    continue
                if retry:
                    log.error("database unavailable: %s", _reason(exc))
                raise DatabaseUnavailable(
                    "The database is unavailable. Try again shortly.", retry_after=2
                ) from None
        raise AssertionError("unreachable")

    @staticmethod
    async def _commit(conn: AsyncConnection, result: T) -> T:
        try:
            await conn.commit()
        except (DBAPIError, OSError) as exc:
            if not _is_disconnect(exc):
                raise
            raise DatabaseUnavailable(
                "The database connection was lost while saving; the change may not have been "
                "saved. Check before retrying.",
                retry_after=2,
            ) from None
        return result

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(5):
                if self._async is not None:
                    # Quiet and single-shot: a load balancer polls this while the database is
                    # down, and each poll should neither wait for a retry nor log twice.
                    await self._async_ping()
                else:
                    await self.read(_select_one)
            return True
        except (SQLAlchemyError, OSError, TimeoutError, RuntimeError, Overloaded):
            return False

    async def _async_ping(self) -> None:
        await self._run_async(_select_one, commit=False, retry=False)

    # -- migrations ----------------------------------------------------------------------------

    async def _migrate(self, fn: Callable[[Connection], T], *, lock: bool = False) -> T:
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

                assert self._writer is not None
                return await self._writer.run_alone(run)
            self._require()
            assert self._async is not None
            async with self._async.connect() as conn:
                if lock:
                    # Held until job commits: replicas or workers starting together migrate
                    # one after the other, and the later ones find the schema already at head.
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                    )
                return await conn.run_sync(job)
        except (DBAPIError, OSError) as exc:
            reason = getattr(exc, "orig", None) or exc
            raise ConfigError(
                f"Cannot open the database at {redact_url(self.url)}: {reason}"
            ) from None

    async def at_head(self) -> bool:
        """Whether the schema is at the newest shipped migration (one query, no Alembic)."""

        def run(conn: Connection) -> bool:
            try:
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            except DBAPIError:
                return False  # a new database: no version table yet
            return [r[0] for r in rows] == [HEAD_REVISION]

        return await self._migrate(run)

    async def upgrade(self, revision: str = "head") -> None:
        """Apply pending migrations (a no-op when already at head)."""
        if revision == "head" and await self.at_head():
            return

        def run(conn: Connection) -> None:
            from alembic import command

            command.upgrade(alembic_config(conn), revision)

        await self._migrate(run, lock=True)

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


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def _select_one(conn: Connection) -> Any:
    return conn.execute(text("SELECT 1")).scalar()
