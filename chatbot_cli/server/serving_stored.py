"""OpenAI's stored chat completions, read and changed for the key's owner (`store: true` writes
them: server/store.py). Another owner's ids are unknown ids: 404 either way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatbot_cli.db import completion_query as query
from chatbot_cli.db import conversations
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest, NotFound
from chatbot_cli.server.protocol_stored import (
    StoredCompletion,
    StoredCompletionDeleted,
    StoredCompletionList,
    StoredMessage,
    StoredMessageList,
)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Page:
    """Which page a list asks for: both lists (completions, a completion's messages) page alike,
    so the routes read these three query parameters once (`Paging` in server/stored_api.py)."""

    after: str | None = None
    limit: int | None = None
    order: str | None = None


def _limit(value: int | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidRequest(f"'limit' must be between 1 and {MAX_LIMIT}.", param="limit")
    return value


def _descending(order: str | None) -> bool:
    if order in (None, "asc"):
        return False
    if order == "desc":
        return True
    raise InvalidRequest("'order' is 'asc' or 'desc'.", param="order")


def _metadata_filter(params: Mapping[str, str]) -> dict[str, str]:
    """`metadata[key]=value` query parameters, as the openai SDK sends a metadata filter."""
    found = {
        key[len("metadata[") : -1]: value
        for key, value in params.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    return conversations.check_metadata(found)


def stored_completion(record: query.CompletionRecord) -> StoredCompletion:
    response: dict[str, Any] = record.response
    usage = response.get("usage") or {}
    return StoredCompletion.model_validate(
        {
            "id": record.id,
            "created": response.get("created") or int(record.created_at.timestamp()),
            "model": record.model,
            "choices": response.get("choices") or [],
            "usage": {
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
            "metadata": record.metadata,
            "conversation_id": record.conversation_id,
            "complete": record.complete,
        }
    )


class OpenAIServingStored:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def _get(self, owner: str, completion_id: str) -> query.CompletionRecord:
        record = await query.get_completion(self.database, owner, completion_id)
        if record is None:
            raise NotFound(f"No stored chat completion found with id '{completion_id}'.")
        return record

    async def list(
        self,
        owner: str,
        params: Mapping[str, str],
        page: Page,
        *,
        model: str | None,
    ) -> StoredCompletionList:
        records, more = await query.list_completions(
            self.database,
            owner,
            limit=_limit(page.limit),
            after=page.after,
            descending=_descending(page.order),
            model=model,
            metadata=_metadata_filter(params),
        )
        data = [stored_completion(r) for r in records]
        return StoredCompletionList(
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            has_more=more,
        )

    async def retrieve(self, owner: str, completion_id: str) -> StoredCompletion:
        return stored_completion(await self._get(owner, completion_id))

    async def update(
        self, owner: str, completion_id: str, metadata: dict[str, Any] | None
    ) -> StoredCompletion:
        clean = conversations.check_metadata(metadata)
        if not await conversations.update_metadata(self.database, owner, completion_id, clean):
            raise NotFound(f"No stored chat completion found with id '{completion_id}'.")
        return await self.retrieve(owner, completion_id)

    async def delete(self, owner: str, completion_id: str) -> StoredCompletionDeleted:
        if not await conversations.delete_completion(self.database, owner, completion_id):
            raise NotFound(f"No stored chat completion found with id '{completion_id}'.")
        return StoredCompletionDeleted(id=completion_id, deleted=True)

    async def messages(self, owner: str, completion_id: str, page: Page) -> StoredMessageList:
        record = await self._get(owner, completion_id)
        sent = record.request.get("messages") or []
        items = [
            StoredMessage(id=f"{completion_id}-{i}", role=m["role"], content=m["content"])
            for i, m in enumerate(sent)
        ]
        if _descending(page.order):
            items.reverse()
        if page.after is not None:
            ids = [m.id for m in items]
            if page.after not in ids:
                raise NotFound(
                    f"'after' names no message of this completion: {page.after}.", param="after"
                )
            items = items[ids.index(page.after) + 1 :]
        size = _limit(page.limit)
        data = items[:size]
        return StoredMessageList(
            data=data,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
            has_more=len(items) > size,
        )
