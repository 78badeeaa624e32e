"""Stored chat completions (`store: true`) between the serving code and the database.

`begin` runs before generation: it checks the metadata and the conversation the request
continues, and fixes the completion's id, so the response can name its conversation in a header
before the first token. `finish` runs once the answer has ended (a stream also when it was cut):
it only queues the turn. One task per app drains the queue, several turns in one transaction,
through `Database.write_off_loop` (SQLite's writer thread; on PostgreSQL the loop only awaits the
server). So a stream pays nothing per token and nothing at its end but an append to a list, and a
failed store is logged and counted (`chatbot_stored_completions_total{outcome="error"}`), never
seen by the client, who has the answer already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter

from chatbot_cli.db.conversations import (
    StoredTurn,
    check_metadata,
    clean_name,
    conversation_owner,
    new_completion_id,
    new_conversation_id,
    store_turns,
)
from chatbot_cli.db.models import utcnow
from chatbot_cli.errors import InvalidRequest, NotFound
from chatbot_cli.server.tools import assistant_message

if TYPE_CHECKING:
    from chatbot_cli.db.session import Database
    from chatbot_cli.server.fanout import FanOut
    from chatbot_cli.server.protocol import ChatCompletionRequest

log = logging.getLogger("chatbot.store")

# Turns waiting for the database; beyond this (a database down for long) new ones are dropped
# and counted, so memory stays bounded.
MAX_PENDING = 2000
CONVERSATION_HEADER = "x-conversation-id"
_PARAMS = (
    "temperature",
    "top_p",
    "n",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "stream",
    "user",
)


def turn_headers(turn: StoredTurn | None) -> dict[str, str]:
    """The response header naming the stored turn's conversation, for the client's next turn."""
    return {CONVERSATION_HEADER: turn.conversation_id} if turn is not None else {}


def response_of(turn: StoredTurn, fan: FanOut, usage: dict[str, int]) -> dict[str, Any]:
    """The chat.completion object of what was generated (a cut choice has no finish_reason)."""
    created = int(turn.created.timestamp())
    return {
        "id": turn.id,
        "object": "chat.completion",
        "created": created,
        "model": turn.model,
        "choices": [
            {
                "index": i,
                "message": assistant_message("".join(s.text), s.tool_calls, s.finish_reason),
                "finish_reason": s.finish_reason
                if s.finish_reason in ("stop", "length", "tool_calls")
                else None,
            }
            for i, s in enumerate(fan.states)
        ],
        "usage": usage,
    }


class CompletionStore:
    def __init__(self, database: Database, registry: CollectorRegistry) -> None:
        self._database = database
        self._pending: list[StoredTurn] = []
        # Conversations whose first turn is queued: a next turn may already name them.
        self._new: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self.stored = Counter(
            "chatbot_stored_completions",
            "Chat completions stored (store: true) by outcome: ok, error (the database refused "
            "or was unreachable; the client had its answer), dropped (too many waiting)",
            ["outcome"],
            registry=registry,
        )

    async def begin(self, body: ChatCompletionRequest, owner: str) -> StoredTurn:
        """Checks what the request asks to store, before anything is generated."""
        metadata = check_metadata(body.metadata)
        name = clean_name(body.conversation_name, "conversation_name")
        conversation = body.conversation
        new = conversation is None
        if conversation is None:
            conversation = new_conversation_id()
        elif (
            self._new.get(conversation) != owner
            and await conversation_owner(self._database, conversation) != owner
        ):
            raise NotFound(f"Conversation {conversation} not found.", param="conversation")
        if name is not None and not new:
            raise InvalidRequest(
                "'conversation_name' names a new conversation; it cannot go with "
                "'conversation' (rename one with renameConversation).",
                param="conversation_name",
            )
        params = {k: getattr(body, k) for k in _PARAMS if getattr(body, k, None) is not None}
        return StoredTurn(
            id=new_completion_id(),
            owner=owner,
            conversation_id=conversation,
            model=body.model,
            created=utcnow(),
            messages=[{"role": m.role, "content": m.content or ""} for m in body.messages],
            params=params,
            metadata=metadata,
            new_conversation=new,
            conversation_name=name,
        )

    def finish(self, turn: StoredTurn, response: dict[str, Any], *, complete: bool) -> None:
        """Queue the turn; returns at once."""
        turn.response = response
        turn.complete = complete
        if len(self._pending) >= MAX_PENDING:
            self.stored.labels(outcome="dropped").inc()
            log.error("stored completion %s dropped: %d already waiting", turn.id, MAX_PENDING)
            return
        self._pending.append(turn)
        if turn.new_conversation:
            self._new[turn.conversation_id] = turn.owner
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._write(batch)
                for turn in batch:
                    self._new.pop(turn.conversation_id, None)
        finally:
            self._task = None

    async def _write(self, batch: list[StoredTurn]) -> None:
        try:
            await self._database.write_off_loop(lambda conn: store_turns(conn, batch))
        except Exception as exc:
            if len(batch) > 1:  # only the turn at fault should be lost
                for turn in batch:
                    await self._write([turn])
                return
            log.error("could not store completion %s: %s", batch[0].id, _reason(exc))
            self.stored.labels(outcome="error").inc()
            return
        self.stored.labels(outcome="ok").inc(len(batch))

    async def flush(self) -> None:
        """Wait until every queued turn is written (or has failed)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.flush()


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return (text.splitlines() or [type(exc).__name__])[0]
