"""Conversations over GraphQL: the stored chat history of the key's owner (db/conversations.py).

`conversations(search, first, after)` pages the owner's conversations, most recently used first
(a keyset cursor), or with `search` ranked by their best matching message (an offset cursor),
each with that message's highlighted `snippet`. Another owner's id is NOT_FOUND, exactly like an
id that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from chatbot_cli.db import conversation_query as query
from chatbot_cli.db import conversation_search
from chatbot_cli.db import conversations as db_conversations
from chatbot_cli.db.models import utcnow
from chatbot_cli.errors import InvalidRequest, NotFound
from chatbot_cli.graphql.types import PageInfo, caller

DEFAULT_PAGE = 20
MAX_PAGE = 100
MAX_MESSAGES = 1000


@strawberry.type(description="One message of a conversation.")
class ConversationMessage:
    id: int
    role: str = strawberry.field(description="system, user or assistant.")
    content: str
    created_at: datetime = strawberry.field(description="When it was stored (UTC).")


@strawberry.type(description="A message to send again: the input of the next turn.")
class ContextMessage:
    role: str
    content: str


@strawberry.input(description="A message of an imported conversation.")
class MessageInput:
    role: str = strawberry.field(description="system, user or assistant.")
    content: str


@strawberry.type(description="Tokens the conversation's turns used.")
class ConversationUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@strawberry.type(description="A conversation: turns stored with `store: true` under one id.")
class Conversation:
    id: strawberry.ID
    name: str | None = strawberry.field(description="Its session name (chat --session).")
    title: str = strawberry.field(description="The first user message, shortened.")
    model: str = strawberry.field(description="The model of its latest turn.")
    created_at: datetime
    updated_at: datetime = strawberry.field(description="When its latest turn was stored.")
    message_count: int
    usage: ConversationUsage
    snippet: str | None = strawberry.field(
        description="With `search`: its best matching message, the matched words between **."
    )

    @classmethod
    def of(cls, record: query.ConversationRecord, snippet: str | None = None) -> Conversation:
        return cls(
            id=strawberry.ID(record.id),
            name=record.name,
            title=record.title,
            model=record.model,
            created_at=record.created_at,
            updated_at=record.updated_at,
            message_count=record.messages,
            usage=ConversationUsage(
                prompt_tokens=record.prompt_tokens,
                completion_tokens=record.completion_tokens,
                total_tokens=record.prompt_tokens + record.completion_tokens,
            ),
            snippet=snippet,
        )

    @strawberry.field(
        description=f"Its messages, oldest first, each once; at most {MAX_MESSAGES} a page."
    )
    async def messages(
        self,
        info: strawberry.Info[Any, Any],
        limit: int = MAX_MESSAGES,
        offset: int = 0,
    ) -> list[ConversationMessage]:
        if not 0 <= limit <= MAX_MESSAGES or offset < 0:
            raise InvalidRequest(
                f"'limit' is 0-{MAX_MESSAGES} and 'offset' zero or more.", param="limit"
            )
        database, owner = caller(info)
        records = await query.conversation_messages(database, owner, str(self.id))
        return [
            ConversationMessage(id=m.id, role=m.role, content=m.content, created_at=m.created_at)
            for m in records[offset : offset + limit]
        ]

    @strawberry.field(
        description="What continuing it sends first: its latest turn's input and answer."
    )
    async def context(self, info: strawberry.Info[Any, Any]) -> list[ContextMessage]:
        database, owner = caller(info)
        found = await query.conversation_context(database, owner, str(self.id))
        return [ContextMessage(role=m["role"], content=m["content"]) for m in found]


@strawberry.type(description="One page of conversations.")
class ConversationConnection:
    page_info: PageInfo
    nodes: list[Conversation]


def _page(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise InvalidRequest(f"'first' is 0-{MAX_PAGE}.", param="first")
    return first


def _search_offset(after: str | None, search: str) -> int:
    if after is None:
        return 0
    kind, offset, text = query.decode_cursor(after)
    if kind != "s" or text != search or not isinstance(offset, int) or offset < 0:
        raise InvalidRequest(
            "'after' is not a cursor of this search: pass the previous page's endCursor with "
            "the same search.",
            param="after",
        )
    return offset


async def _search(
    info: strawberry.Info[Any, Any],
    search: str,
    first: int,
    after: str | None,
    since: datetime | None,
    model: str | None,
) -> ConversationConnection:
    database, owner = caller(info)
    offset = _search_offset(after, search)
    found = await conversation_search.search_conversations(
        database, owner, search, limit=first + 1, offset=offset, since=since, model=model
    )
    shown = found[:first]
    nodes = [Conversation.of(record, hit.snippet) for record, hit in shown]
    end = query.encode_cursor(["s", offset + len(shown), search]) if shown else None
    return ConversationConnection(
        page_info=PageInfo(has_next_page=len(found) > first, end_cursor=end), nodes=nodes
    )


MAX_IMPORT_MESSAGES = 512
MAX_IMPORT_CHARS = 1_000_000


def imported_turn(
    owner: str, messages: list[tuple[str, str]], model: str, name: str | None
) -> db_conversations.StoredTurn:
    """A stored turn made of a conversation held elsewhere (the CLI's old local file)."""
    if not messages or len(messages) > MAX_IMPORT_MESSAGES:
        raise InvalidRequest(
            f"A conversation has 1-{MAX_IMPORT_MESSAGES} messages.", param="messages"
        )
    if sum(len(c) for _, c in messages) > MAX_IMPORT_CHARS or not 0 < len(model) <= 256:
        raise InvalidRequest("The conversation is too large to import.", param="messages")
    for i, (role, _) in enumerate(messages):
        if role not in ("system", "user", "assistant"):
            raise InvalidRequest(
                f"Message {i}: role is system, user or assistant.", param=f"messages[{i}].role"
            )
    sent = [{"role": r, "content": c} for r, c in messages]
    answer = ""
    if sent[-1]["role"] == "assistant":
        answer = sent.pop()["content"]
    created = utcnow()
    return db_conversations.StoredTurn(
        id=db_conversations.new_completion_id(),
        owner=owner,
        conversation_id=db_conversations.new_conversation_id(),
        model=model,
        created=created,
        messages=sent,
        params={},
        metadata={"imported": "true"},
        response={
            "object": "chat.completion",
            "created": int(created.timestamp()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        },
        new_conversation=True,
        conversation_name=db_conversations.clean_name(name),
    )


def _found(done: bool, conversation_id: str) -> None:
    if not done:
        raise NotFound(f"Conversation {conversation_id} not found.")


@strawberry.type
class ConversationQuery:
    @strawberry.field(
        description=f"Your conversations, most recently used first, {DEFAULT_PAGE} a page (at "
        f'most {MAX_PAGE}); with `search` (words, "a phrase", `or`, -word), ranked by their '
        "best matching message, whose highlighted `snippet` they carry."
    )
    async def conversations(
        self,
        info: strawberry.Info[Any, Any],
        search: str | None = None,
        first: Annotated[
            int | None, strawberry.argument(description=f"Page size (default {DEFAULT_PAGE}).")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="The previous page's endCursor.")
        ] = None,
        since: Annotated[
            datetime | None, strawberry.argument(description="Only those used since then.")
        ] = None,
        model: Annotated[
            str | None, strawberry.argument(description="Only those with this model.")
        ] = None,
    ) -> ConversationConnection:
        size = _page(first)
        if search is not None:
            return await _search(info, search, size, after, since, model)
        database, owner = caller(info)
        page = await query.list_conversations(
            database, owner, first=size, after=after, since=since, model=model
        )
        return ConversationConnection(
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            nodes=[Conversation.of(r) for r in page.records],
        )

    @strawberry.field(
        description="One of your conversations by id, or by session name; NOT_FOUND if you "
        "have none such. With neither: your latest."
    )
    async def conversation(
        self,
        info: strawberry.Info[Any, Any],
        id: strawberry.ID | None = None,
        name: str | None = None,
    ) -> Conversation:
        database, owner = caller(info)
        if id is None and name is None:
            record = await query.latest_conversation(database, owner)
            what = "You have no conversation yet."
        else:
            record = await query.get_conversation(
                database, owner, None if id is None else str(id), name=name
            )
            what = f"Conversation {id if id is not None else repr(name)} not found."
        if record is None:
            raise NotFound(what)
        return Conversation.of(record)


@strawberry.type
class ConversationMutation:
    @strawberry.mutation(
        description="Name a conversation (a session name for chat --session; unique among "
        "yours), or with null remove its name."
    )
    async def rename_conversation(
        self, info: strawberry.Info[Any, Any], id: strawberry.ID, name: str | None
    ) -> Conversation:
        database, owner = caller(info)
        _found(await db_conversations.rename_conversation(database, owner, str(id), name), id)
        record = await query.get_conversation(database, owner, str(id))
        _found(record is not None, id)
        assert record is not None
        return Conversation.of(record)

    @strawberry.mutation(
        description=f"Store a conversation held elsewhere (at most {MAX_IMPORT_MESSAGES} "
        "messages) as one turn: its last assistant message is the answer to the others."
    )
    async def import_conversation(
        self,
        info: strawberry.Info[Any, Any],
        messages: list[MessageInput],
        model: str = "default",
        name: str | None = None,
    ) -> Conversation:
        database, owner = caller(info)
        turn = imported_turn(owner, [(m.role, m.content) for m in messages], model, name)
        await database.write(lambda conn: db_conversations.store_turns(conn, [turn]))
        record = await query.get_conversation(database, owner, turn.conversation_id)
        assert record is not None
        return Conversation.of(record)

    @strawberry.mutation(
        description="Delete a conversation with all its turns and messages; returns its id."
    )
    async def delete_conversation(
        self, info: strawberry.Info[Any, Any], id: strawberry.ID
    ) -> strawberry.ID:
        database, owner = caller(info)
        _found(await db_conversations.delete_conversation(database, owner, str(id)), id)
        return id
