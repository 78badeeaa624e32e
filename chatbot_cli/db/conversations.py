"""Writing conversations and stored chat completions, always scoped to one owner.

`store_turns` is the one writer of a stored completion: the server calls it after the answer has
been sent (server/store.py batches several turns into one transaction). A turn adds to its
conversation the input messages the previous turn's context did not hold (all of them when the
client changed the history, e.g. a new system message) and its answer; the completion row keeps
the whole request and response, as OpenAI's stored completions return them.
Reading lives in db/conversation_query.py, db/conversation_search.py and db/completion_query.py.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from chatbot_cli.db.models import chat_completions, chat_messages, conversations, utcnow
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest

log = logging.getLogger("chatbot.db")

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_NAME_CHARS = 100
TITLE_CHARS = 80


def new_conversation_id() -> str:
    return "conv_" + secrets.token_hex(12)


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """OpenAI's rules: at most 16 string pairs, keys up to 64 characters, values up to 512."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequest("'metadata' must be an object of strings.", param=param)
    if len(value) > MAX_METADATA_KEYS:
        raise InvalidRequest(
            f"'metadata' has {len(value)} keys; at most {MAX_METADATA_KEYS} are allowed.",
            param=param,
        )
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise InvalidRequest("'metadata' keys and values must be strings.", param=param)
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise InvalidRequest(
                f"metadata key '{key[:20]}...' is longer than {MAX_METADATA_KEY_CHARS} characters.",
                param=f"{param}.{key}",
            )
        if len(item) > MAX_METADATA_VALUE_CHARS:
            raise InvalidRequest(
                f"metadata value of '{key}' is longer than {MAX_METADATA_VALUE_CHARS} characters.",
                param=f"{param}.{key}",
            )
    return dict(value)


def clean_name(name: str | None, param: str = "name") -> str | None:
    """A session name: one line, 1-100 characters; None or blank clears it."""
    if name is None or not name.strip():
        return None
    name = name.strip()
    if len(name) > MAX_NAME_CHARS or any(c in name for c in "\r\n\t\x00"):
        raise InvalidRequest(
            f"A conversation name is one line of at most {MAX_NAME_CHARS} characters.",
            param=param,
        )
    return name


def title_of(messages: Sequence[Mapping[str, str]]) -> str:
    first = next((m["content"] for m in messages if m["role"] == "user"), "")
    line = " ".join(first.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


@dataclass
class StoredTurn:
    """One chat completion to store: what the server knew when the answer ended."""

    id: str
    owner: str
    conversation_id: str
    model: str
    created: datetime
    messages: list[dict[str, str]]
    params: dict[str, Any]
    metadata: dict[str, str]
    response: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    new_conversation: bool = False
    conversation_name: str | None = None

    @property
    def answer(self) -> str:
        choices = self.response.get("choices") or [{}]
        return str((choices[0].get("message") or {}).get("content") or "")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def previous_context(conn: Connection, conversation_id: str) -> list[dict[str, str]]:
    """The last stored turn's input and answer: what a continuing turn sends again first."""
    row = conn.execute(
        select(chat_completions.c.request, chat_completions.c.response)
        .where(chat_completions.c.conversation_id == conversation_id)
        .order_by(chat_completions.c.created_at.desc(), chat_completions.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return []
    messages = list(json.loads(row.request).get("messages") or [])
    choices = json.loads(row.response).get("choices") or [{}]
    answer = (choices[0].get("message") or {}).get("content")
    if answer:
        messages.append({"role": "assistant", "content": answer})
    return messages


def _store_one(conn: Connection, turn: StoredTurn) -> None:
    now = utcnow()
    found = conn.execute(
        select(conversations.c.owner).where(conversations.c.id == turn.conversation_id)
    ).first()
    if found is not None and found.owner != turn.owner:
        log.warning("not storing %s: conversation of another owner", turn.id)
        return
    if found is None:
        name = turn.conversation_name
        if name is not None:
            taken = conn.execute(
                select(conversations.c.id).where(
                    conversations.c.owner == turn.owner, conversations.c.name == name
                )
            ).first()
            name = None if taken is not None else name
        conn.execute(
            insert(conversations).values(
                id=turn.conversation_id,
                owner=turn.owner,
                name=name,
                title=title_of(turn.messages),
                model=turn.model,
                created_at=turn.created,
                updated_at=now,
            )
        )
        context: list[dict[str, str]] = []
    else:
        context = previous_context(conn, turn.conversation_id)
    sent = [{"role": m["role"], "content": m["content"]} for m in turn.messages]
    new = sent[len(context) :] if context and sent[: len(context)] == context else sent
    usage = turn.response.get("usage") or {}
    prompt, completion = (
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )
    conn.execute(
        insert(chat_completions).values(
            id=turn.id,
            owner=turn.owner,
            conversation_id=turn.conversation_id,
            model=turn.model,
            created_at=turn.created,
            complete=turn.complete,
            request=_dumps({"messages": turn.messages, **turn.params}),
            response=_dumps(turn.response),
            metadata_json=_dumps(turn.metadata),
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
    )
    rows = [dict(m) for m in new]
    if turn.answer or not turn.complete:
        rows.append({"role": "assistant", "content": turn.answer})
    if rows:
        conn.execute(
            insert(chat_messages),
            [
                {
                    "conversation_id": turn.conversation_id,
                    "completion_id": turn.id,
                    "owner": turn.owner,
                    "role": m["role"],
                    "content": m["content"],
                    "created_at": now,
                }
                for m in rows
            ],
        )
    conn.execute(
        update(conversations)
        .where(conversations.c.id == turn.conversation_id)
        .values(
            updated_at=now,
            model=turn.model,
            prompt_tokens=conversations.c.prompt_tokens + prompt,
            completion_tokens=conversations.c.completion_tokens + completion,
        )
    )


def store_turns(conn: Connection, turns: Sequence[StoredTurn]) -> None:
    """Store every turn in the caller's transaction, in order (a turn may continue the one
    before it in the same batch)."""
    for turn in turns:
        _store_one(conn, turn)


async def conversation_owner(db: Database, conversation_id: str) -> str | None:
    stmt = select(conversations.c.owner).where(conversations.c.id == conversation_id)
    return await db.read(lambda conn: conn.execute(stmt).scalar())


async def update_metadata(
    db: Database, owner: str, completion_id: str, metadata: dict[str, str]
) -> bool:
    stmt = (
        update(chat_completions)
        .where(chat_completions.c.id == completion_id, chat_completions.c.owner == owner)
        .values(metadata_json=_dumps(metadata))
    )
    return await db.write(lambda conn: conn.execute(stmt).rowcount > 0)


async def delete_completion(db: Database, owner: str, completion_id: str) -> bool:
    """The completion and the messages it added; its conversation keeps its other turns."""
    stmt = delete(chat_completions).where(
        chat_completions.c.id == completion_id, chat_completions.c.owner == owner
    )
    return await db.write(lambda conn: conn.execute(stmt).rowcount > 0)


async def delete_conversation(db: Database, owner: str, conversation_id: str) -> bool:
    """The conversation, its completions and its messages (foreign keys cascade)."""
    stmt = delete(conversations).where(
        conversations.c.id == conversation_id, conversations.c.owner == owner
    )
    return await db.write(lambda conn: conn.execute(stmt).rowcount > 0)


async def rename_conversation(
    db: Database, owner: str, conversation_id: str, name: str | None
) -> bool:
    """Give the conversation a session name (None clears it); a name is unique per owner."""
    name = clean_name(name)

    def run(conn: Connection) -> bool:
        if name is not None:
            taken = conn.execute(
                select(conversations.c.id).where(
                    conversations.c.owner == owner,
                    conversations.c.name == name,
                    conversations.c.id != conversation_id,
                )
            ).first()
            if taken is not None:
                raise InvalidRequest(
                    f"You already have a conversation named '{name}'.", param="name"
                )
        stmt = (
            update(conversations)
            .where(conversations.c.id == conversation_id, conversations.c.owner == owner)
            .values(name=name)
        )
        return conn.execute(stmt).rowcount > 0

    return await db.write(run)
