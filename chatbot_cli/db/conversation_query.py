"""Reading conversations: pages of them, one by id or session name, its messages and the context
a next turn sends. Search is in db/conversation_search.py, stored completions (OpenAI's view of the
same turns) in db/completion_query.py.

Every read is scoped to one owner: another owner's conversation reads exactly like one that does
not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from chatbot_cli.db.conversations import previous_context
from chatbot_cli.db.models import chat_messages, conversations
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: str
    name: str | None
    title: str
    model: str
    created_at: datetime
    updated_at: datetime
    prompt_tokens: int
    completion_tokens: int
    messages: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "model": self.model,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "messages": self.messages,
            "usage": {
                "promptTokens": self.prompt_tokens,
                "completionTokens": self.completion_tokens,
                "totalTokens": self.prompt_tokens + self.completion_tokens,
            },
        }


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    conversation_id: str
    completion_id: str
    role: str
    content: str
    created_at: datetime


# Its message count comes in the same statement as the conversation (an index-only count on
# ix_chat_messages_conversation_id_id): a second query was one more round trip per page.
_MESSAGE_COUNT = (
    select(func.count())
    .where(chat_messages.c.conversation_id == conversations.c.id)
    .correlate(conversations)
    .scalar_subquery()
    .label("message_count")
)
_CONV_COLUMNS = (
    conversations.c.id,
    conversations.c.name,
    conversations.c.title,
    conversations.c.model,
    conversations.c.created_at,
    conversations.c.updated_at,
    conversations.c.prompt_tokens,
    conversations.c.completion_tokens,
    _MESSAGE_COUNT,
)


def _conversation(row: Any) -> ConversationRecord:
    return ConversationRecord(
        row.id,
        row.name,
        row.title,
        row.model,
        row.created_at,
        row.updated_at,
        int(row.prompt_tokens),
        int(row.completion_tokens),
        int(row.message_count),
    )


def conversations_by_id(
    conn: Connection, owner: str, ids: list[str]
) -> dict[str, ConversationRecord]:
    """The owner's conversations among `ids` (others' are left out), for a search's hits."""
    if not ids:
        return {}
    stmt = select(*_CONV_COLUMNS).where(conversations.c.owner == owner, conversations.c.id.in_(ids))
    return {r.id: _conversation(r) for r in conn.execute(stmt)}


# -- conversations ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationPage:
    records: list[ConversationRecord]
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str | None = None) -> list[Any]:
    """A cursor's [kind, two values]; InvalidRequest (param after) for anything else."""
    bad = InvalidRequest(
        "'after' is not a cursor of this list: pass the endCursor of the previous page.",
        param="after",
    )
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(value, list) or len(value) != 3 or kind not in (None, value[0]):
        raise bad
    return value if kind is None else value[1:]


async def list_conversations(
    db: Database,
    owner: str,
    *,
    first: int,
    after: str | None = None,
    since: datetime | None = None,
    model: str | None = None,
) -> ConversationPage:
    """The owner's conversations, most recently used first, a page after the cursor."""
    stmt = select(*_CONV_COLUMNS).where(conversations.c.owner == owner)
    if since is not None:
        stmt = stmt.where(conversations.c.updated_at >= since)
    if model is not None:
        stmt = stmt.where(conversations.c.model == model)
    if after:
        when, last_id = decode_cursor(after, "c")
        try:
            moment = datetime.fromisoformat(str(when)).astimezone(UTC)
        except ValueError:
            raise InvalidRequest("'after' is not a cursor of this list.", param="after") from None
        stmt = stmt.where(
            or_(
                conversations.c.updated_at < moment,
                and_(conversations.c.updated_at == moment, conversations.c.id < str(last_id)),
            )
        )
    stmt = stmt.order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
    stmt = stmt.limit(first + 1)

    rows = await db.read(lambda conn: list(conn.execute(stmt).all()))
    records = [_conversation(r) for r in rows[:first]]
    end = records[-1] if records else None
    cursor = encode_cursor(["c", end.updated_at.isoformat(), end.id]) if end else None
    return ConversationPage(records, len(rows) > first, cursor)


async def get_conversation(
    db: Database, owner: str, conversation_id: str | None = None, *, name: str | None = None
) -> ConversationRecord | None:
    """By id, or by session name; None when the owner has none such (ids leak nothing)."""
    stmt = select(*_CONV_COLUMNS).where(conversations.c.owner == owner)
    if conversation_id is not None:
        stmt = stmt.where(conversations.c.id == conversation_id)
    elif name is not None:
        stmt = stmt.where(conversations.c.name == name.strip())
    else:
        return None

    row = await db.read(lambda conn: conn.execute(stmt).first())
    return _conversation(row) if row is not None else None


async def latest_conversation(db: Database, owner: str) -> ConversationRecord | None:
    page = await list_conversations(db, owner, first=1)
    return page.records[0] if page.records else None


async def conversation_messages(
    db: Database, owner: str, conversation_id: str
) -> list[MessageRecord]:
    stmt = (
        select(
            chat_messages.c.id,
            chat_messages.c.conversation_id,
            chat_messages.c.completion_id,
            chat_messages.c.role,
            chat_messages.c.content,
            chat_messages.c.created_at,
        )
        .where(chat_messages.c.conversation_id == conversation_id, chat_messages.c.owner == owner)
        .order_by(chat_messages.c.id)
    )
    rows = await db.read(lambda conn: list(conn.execute(stmt).all()))
    return [MessageRecord(*row) for row in rows]


async def conversation_context(
    db: Database, owner: str, conversation_id: str
) -> list[dict[str, str]]:
    """What the next turn sends first: the last turn's input messages and its answer."""

    def read(conn: Connection) -> list[dict[str, str]]:
        found = conn.execute(
            select(conversations.c.id).where(
                conversations.c.id == conversation_id, conversations.c.owner == owner
            )
        ).first()
        return previous_context(conn, conversation_id) if found else []

    return await db.read(read)
