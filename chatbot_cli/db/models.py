"""Table definitions. Alembic autogenerate compares migrations against this metadata."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

DEFAULT_OWNER = "default"

# Named constraints keep Alembic batch migrations on SQLite deterministic.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    """Now in UTC to the millisecond: the precision of a JavaScript Date, so a TypeScript program
    on the same database (prisma/) reads exactly the timestamps written here. Whole milliseconds
    since the epoch, added in integers: exact, and far cheaper than `datetime.replace` with a
    keyword (every write takes a timestamp)."""
    return _EPOCH + timedelta(0, 0, 0, time.time_ns() // 1_000_000)


class UTCDateTime(TypeDecorator[datetime]):
    """Always an aware UTC datetime in Python.

    PostgreSQL stores timestamptz; SQLite has no time zones, so the value is stored as naive UTC
    and the zone is put back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Todo(Base):
    __tablename__ = "todos"
    # AUTOINCREMENT on SQLite: a deleted id is never handed out again.
    # Each index serves one list query on an owner with many todos (docs/design.md, "Todos"): newest
    # first, pending/done first pages, due order and range, priority order (and the URGENCY
    # order's ranges, db/urgency.py), project filter, and import's "already there" check by uid.
    __table_args__ = (
        Index("ix_todos_owner_id", "owner", "id"),
        Index("ix_todos_owner_completed_id", "owner", "completed", "id"),
        Index("ix_todos_owner_due", "owner", "due"),
        Index("ix_todos_owner_priority_id", "owner", "priority", "id"),
        Index("ix_todos_owner_project_id", "owner", "project", "id"),
        # Partial: only imported todos have a uid, and a full index on (owner, uid) looked to
        # SQLite's planner like the best way to find an owner's rows, whatever the order asked.
        Index(
            "ix_todos_owner_uid",
            "owner",
            "uid",
            unique=True,
            sqlite_where=text("uid IS NOT NULL"),
            postgresql_where=text("uid IS NOT NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    completed: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # db/todos.py sets it on every update; onupdate says so to readers of the metadata
    # (prisma/schema.prisma's @updatedAt is checked against it).
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )
    owner: Mapped[str] = mapped_column(
        String(64), nullable=False, default=DEFAULT_OWNER, server_default=text(f"'{DEFAULT_OWNER}'")
    )
    due: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # 0 none, 1 low, 2 medium, 3 high: an integer so that "by priority" is an index order.
    priority: Mapped[int] = mapped_column(
        SmallInteger, nullable=False, default=0, server_default=text("0")
    )
    project: Mapped[str | None] = mapped_column(String(100), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The tags as shown, space-separated and sorted; `todo_tags` holds the same tags one a row
    # for the indexed filter. Kept here too so a page of todos is read without a join.
    tags: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default=text("''"))
    # The identity an import matches on (Taskwarrior's uuid, or one derived from the content),
    # so importing one file twice creates nothing twice. NULL for todos created here.
    uid: Mapped[str | None] = mapped_column(String(64), nullable=True)


class TodoTag(Base):
    """One row per tag of a todo; the owner is repeated so that one index answers "this owner's
    todos with this tag, newest first"."""

    __tablename__ = "todo_tags"
    __table_args__ = (Index("ix_todo_tags_owner_tag_todo_id", "owner", "tag", "todo_id"),)

    todo_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("todos.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)


class TodoJournal(Base):
    """The undo journal: one row per change, holding what the changed todos were before it."""

    __tablename__ = "todo_journal"
    __table_args__ = (
        Index("ix_todo_journal_owner_id", "owner", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # JSON: {"ids": [...]} for todos the change created, {"rows": [...]} for todos as they were.
    before: Mapped[str] = mapped_column(Text, nullable=False)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # `chatbot keys limit`: NULL is no limit. Read by server/quota.py, cached a few seconds.
    rpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tpm_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_per_day_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    concurrent_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)


class UsageHour(Base):
    """What each key spent on each model in one UTC hour: one row per (owner, model, hour),
    added to by the server's batched flush (db/usage.py)."""

    __tablename__ = "usage_hours"
    __table_args__ = (Index("ix_usage_hours_hour", "hour"),)

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, nullable=False)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RateCounter(Base):
    """The counters that rate limits are checked against, shared by every replica: requests and
    tokens of a limited key per second (`kind` "s", `bucket` the Unix second) and per UTC day
    (`kind` "d", `bucket` the day's number since 1970)."""

    __tablename__ = "rate_counters"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, nullable=False)
    tokens: Mapped[int] = mapped_column(BigInteger, nullable=False)


class GenerationLease(Base):
    """One generation in flight for a key with a `--concurrent` limit, on any replica: admission
    counts the key's unexpired leases (db/limits.py). The replica holding it deletes it when the
    response ends and pushes `expires_at` (Unix seconds) forward while it runs, so the lease of
    a replica that died expires on its own."""

    __tablename__ = "generation_leases"
    __table_args__ = (Index("ix_generation_leases_owner", "owner"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    weight: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[float] = mapped_column(Float, nullable=False)


class Conversation(Base):
    """A sequence of stored chat turns sharing one id (db/conversations.py); `name` is a session
    name (`chatbot chat --session`), unique per owner."""

    __tablename__ = "conversations"
    __table_args__ = (
        # `log list` and the GraphQL list: an owner's conversations, most recently used first.
        Index("ix_conversations_owner_updated_at_id", "owner", "updated_at", "id"),
        Index(
            "ix_conversations_owner_name",
            "owner",
            "name",
            unique=True,
            sqlite_where=text("name IS NOT NULL"),
            postgresql_where=text("name IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The first user message, shortened: what `log list` shows for an unnamed conversation.
    title: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default=text("''"))
    model: Mapped[str] = mapped_column(
        String(256), nullable=False, default="", server_default=text("''")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    prompt_tokens: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    completion_tokens: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )


class StoredCompletion(Base):
    """One chat completion stored with `store: true` (OpenAI's stored completions): the request
    and the response as JSON, and the metadata the client gave."""

    __tablename__ = "chat_completions"
    __table_args__ = (
        Index("ix_chat_completions_owner_created_at_id", "owner", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    conversation_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    model: Mapped[str] = mapped_column(String(256), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # False when the answer was cut (client gone, error, shutdown): stored as far as it got.
    complete: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )
    request: Mapped[str] = mapped_column(Text, nullable=False)
    response: Mapped[str] = mapped_column(Text, nullable=False)
    metadata_json: Mapped[str] = mapped_column(
        Text, nullable=False, default="{}", server_default=text("'{}'")
    )
    prompt_tokens: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    completion_tokens: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )


class ChatMessage(Base):
    """The messages of a conversation, each once: a turn adds the input messages the previous
    turn had not (or all of them, when the client changed the history) and its answer. Full-text
    search indexes `content` outside these models: SQLite's FTS5 table `chat_messages_fts`,
    PostgreSQL's generated tsvector column `search` (migration 0005, SEARCH_OBJECTS)."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_conversation_id_id", "conversation_id", "id"),
        Index("ix_chat_messages_owner_id", "owner", "id"),
        {"sqlite_autoincrement": True},
    )

    # AUTOINCREMENT: the FTS5 rowid of a message, never reused.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    completion_id: Mapped[str] = mapped_column(
        String(40),
        ForeignKey("chat_completions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


# The full-text search objects the models leave out (they are not portable tables): Alembic's
# comparison skips them (migrations/env.py, tests/db/test_migrations.py).
SEARCH_OBJECTS = frozenset(
    {
        "chat_messages_fts",
        "chat_messages_fts_data",
        "chat_messages_fts_idx",
        "chat_messages_fts_docsize",
        "chat_messages_fts_config",
        "search",
        "ix_chat_messages_search",
    }
)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's filter: the search objects are made by hand in their migration, per database,
    so autogenerate must neither drop nor report them."""
    return name not in SEARCH_OBJECTS


# Core statements on the write path use the tables directly (no ORM unit of work).
todos = cast(Table, Todo.__table__)
api_keys = cast(Table, ApiKey.__table__)
todo_tags = cast(Table, TodoTag.__table__)
todo_journal = cast(Table, TodoJournal.__table__)
usage_hours = cast(Table, UsageHour.__table__)
rate_counters = cast(Table, RateCounter.__table__)
generation_leases = cast(Table, GenerationLease.__table__)
conversations = cast(Table, Conversation.__table__)
chat_completions = cast(Table, StoredCompletion.__table__)
chat_messages = cast(Table, ChatMessage.__table__)
