"""Reading OpenAI's stored chat completions: one by id, and pages of them in creation order with
OpenAI's cursor (the last id of the previous page), filtered by model and metadata.

A stored completion is one turn of a conversation (db/conversations.py writes both); this is the
view `GET /v1/chat/completions` serves (server/serving_stored.py), scoped to the key's owner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from chatbot_cli.db.models import chat_completions
from chatbot_cli.db.session import Database
from chatbot_cli.errors import NotFound


@dataclass(frozen=True, slots=True)
class CompletionRecord:
    id: str
    conversation_id: str
    model: str
    created_at: datetime
    complete: bool
    request: dict[str, Any]
    response: dict[str, Any]
    metadata: dict[str, str]


def _completion(row: Any) -> CompletionRecord:
    return CompletionRecord(
        row.id,
        row.conversation_id,
        row.model,
        row.created_at,
        bool(row.complete),
        json.loads(row.request),
        json.loads(row.response),
        json.loads(row.metadata_json),
    )


_COMPLETION_COLUMNS = (
    chat_completions.c.id,
    chat_completions.c.conversation_id,
    chat_completions.c.model,
    chat_completions.c.created_at,
    chat_completions.c.complete,
    chat_completions.c.request,
    chat_completions.c.response,
    chat_completions.c.metadata_json,
)


async def get_completion(db: Database, owner: str, completion_id: str) -> CompletionRecord | None:
    stmt = select(*_COMPLETION_COLUMNS).where(
        chat_completions.c.id == completion_id, chat_completions.c.owner == owner
    )
    row = await db.read(lambda conn: conn.execute(stmt).first())
    return _completion(row) if row is not None else None


async def list_completions(
    db: Database,
    owner: str,
    *,
    limit: int,
    after: str | None = None,
    descending: bool = False,
    model: str | None = None,
    metadata: dict[str, str] | None = None,
) -> tuple[list[CompletionRecord], bool]:
    """A page of the owner's stored completions in creation order, after the completion `after`
    (OpenAI's cursor is the last id of the previous page), and whether more follow."""
    c = chat_completions.c
    stmt = select(*_COMPLETION_COLUMNS).where(c.owner == owner)
    if model is not None:
        stmt = stmt.where(c.model == model)
    order = (c.created_at.desc(), c.id.desc()) if descending else (c.created_at, c.id)
    stmt = stmt.order_by(*order)

    def read(conn: Connection) -> tuple[list[CompletionRecord], bool]:
        nonlocal stmt
        if after is not None:
            anchor = conn.execute(
                select(c.created_at, c.id).where(c.id == after, c.owner == owner)
            ).first()
            if anchor is None:
                raise NotFound(
                    f"'after' names no stored completion of yours: {after}.", param="after"
                )
            when, last = anchor
            if descending:
                later = or_(c.created_at < when, and_(c.created_at == when, c.id < last))
            else:
                later = or_(c.created_at > when, and_(c.created_at == when, c.id > last))
            stmt = stmt.where(later)
        found: list[CompletionRecord] = []
        # Metadata is JSON text, so its filter is applied here, reading on until the page fills.
        for row in conn.execute(stmt.execution_options(yield_per=200)):
            record = _completion(row)
            if metadata and any(record.metadata.get(k) != v for k, v in metadata.items()):
                continue
            found.append(record)
            if len(found) > limit:
                break
        return found[:limit], len(found) > limit

    return await db.read(read)
