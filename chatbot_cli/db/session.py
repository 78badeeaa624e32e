"""The async `Database`: engine, SQLite pragmas, the writer lock and Alembic migrations.

SQLite allows one writer at a time; instead of letting concurrent requests collide on the file lock
("database is locked"), writers in this process queue on one asyncio lock. WAL keeps readers off
that queue, and a committed transaction is in the WAL before the response goes out, so it survives
the server being killed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from chatbot_cli.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
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
        self._engine: AsyncEngine | None = None
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer: AsyncConnection | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Database.connect() has not been called")
        return self._engine

    async def connect(self) -> None:
        if self._engine is not None:
            return
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            path = make_url(self.url).database
            if not path or path == ":memory:":
                # One shared connection, or every checkout would see a different empty database.
                kwargs["poolclass"] = StaticPool
            else:
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        try:
            self._engine = create_async_engine(self.url, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise ConfigError(f"Cannot use database URL {redact(self.url)}: {exc}") from None
        if self.is_sqlite:
            event.listen(self._engine.sync_engine, "connect", _sqlite_pragmas)

    async def dispose(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One short transaction, committed on exit (rolled back on error)."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            # One long-lived writer connection: no pool checkout, no reset-on-return rollback,
            # which on aiosqlite are each a round trip to its thread.
            writer = self._writer
            if writer is None or writer.closed or writer.invalidated:
                writer = self._writer = await self.engine.connect()
            try:
                async with writer.begin():
                    yield writer
            except BaseException:
                if writer.invalidated:
                    self._writer = None
                    await writer.close()
                raise

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(5):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            return True
        except (SQLAlchemyError, OSError, TimeoutError, RuntimeError):
            return False

    # -- migrations ----------------------------------------------------------------------------

    async def _run_sync(self, fn: Any, *args: Any) -> Any:
        try:
            async with self.engine.connect() as conn:
                result = await conn.run_sync(fn, *args)
                await conn.commit()
                return result
        except (DBAPIError, OSError) as exc:
            reason = getattr(exc, "orig", None) or exc
            raise ConfigError(f"Cannot open the database at {redact(self.url)}: {reason}") from None

    async def upgrade(self, revision: str = "head") -> None:
        """Apply pending migrations (a no-op when already at head)."""

        def run(conn: Connection) -> None:
            from alembic import command

            command.upgrade(alembic_config(conn), revision)

        await self._run_sync(run)

    async def current(self) -> tuple[str | None, str | None]:
        """(revision the database is at, newest revision shipped)."""

        def run(conn: Connection) -> tuple[str | None, str | None]:
            from alembic.runtime.migration import MigrationContext
            from alembic.script import ScriptDirectory

            current = MigrationContext.configure(conn).get_current_revision()
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            return current, head

        result: tuple[str | None, str | None] = await self._run_sync(run)
        return result

    async def revision(self, message: str, autogenerate: bool = True) -> list[str]:
        """Write a new migration file (diffed against the models); returns the paths written."""

        def run(conn: Connection) -> list[str]:
            from alembic import command

            scripts = command.revision(
                alembic_config(conn), message=message, autogenerate=autogenerate
            )
            items = scripts if isinstance(scripts, list) else [scripts]
            return [s.path for s in items if s is not None]

        paths: list[str] = await self._run_sync(run)
        return paths
