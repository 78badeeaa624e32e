from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from chatbot_cli.db import conversation_query as q
from chatbot_cli.db import conversation_search
from chatbot_cli.db import conversations as conv
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest
from tests.db.helpers import run


def turn(
    owner: str,
    conversation_id: str,
    messages: list[dict[str, str]],
    answer: str,
    *,
    cid: str | None = None,
    model: str = "default",
    complete: bool = True,
    metadata: dict[str, str] | None = None,
    name: str | None = None,
) -> conv.StoredTurn:
    return conv.StoredTurn(
        id=cid or "chatcmpl-" + conv.new_conversation_id()[5:],
        owner=owner,
        conversation_id=conversation_id,
        model=model,
        created=datetime.now(UTC),
        messages=messages,
        params={"temperature": 0.5},
        metadata=metadata or {},
        response={
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        },
        complete=complete,
        conversation_name=name,
    )


async def store(db: Database, *turns: conv.StoredTurn) -> None:
    await db.write(lambda conn: conv.store_turns(conn, turns))


def test_turns_add_only_their_new_messages(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        cid = conv.new_conversation_id()
        first = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
        await store(db, turn("alice", cid, first, "Hello!", name="work"))
        second = [*first, {"role": "assistant", "content": "Hello!"}]
        second.append({"role": "user", "content": "Tell me about penguins"})
        await store(db, turn("alice", cid, second, "Penguins swim.", complete=False))
        messages = await q.conversation_messages(db, "alice", cid)
        assert [(m.role, m.content) for m in messages] == [
            ("system", "Be brief."),
            ("user", "Hi"),
            ("assistant", "Hello!"),
            ("user", "Tell me about penguins"),
            ("assistant", "Penguins swim."),
        ]
        record = await q.get_conversation(db, "alice", cid)
        assert record is not None and record.name == "work" and record.title == "Hi"
        assert record.prompt_tokens == 10 and record.completion_tokens == 6
        assert record.messages == 5
        assert (await q.get_conversation(db, "alice", name="work")) == record
        assert await q.get_conversation(db, "bob", cid) is None
        assert await q.conversation_messages(db, "bob", cid) == []
        context = await q.conversation_context(db, "alice", cid)
        assert context[-1] == {"role": "assistant", "content": "Penguins swim."}
        assert len(context) == 5

        # A changed history (new system message) stores the whole input of that turn.
        third = [{"role": "system", "content": "Be long."}, {"role": "user", "content": "Why"}]
        await store(db, turn("alice", cid, third, "Because."))
        assert len(await q.conversation_messages(db, "alice", cid)) == 8

    run(db_url, scenario)


def test_another_owners_conversation_is_never_written(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        cid = conv.new_conversation_id()
        await store(db, turn("alice", cid, [{"role": "user", "content": "mine"}], "ok"))
        await store(db, turn("bob", cid, [{"role": "user", "content": "intrusion"}], "no"))
        assert len(await q.conversation_messages(db, "alice", cid)) == 2
        assert await conversation_search.search_messages(db, "bob", "intrusion") == []

    run(db_url, scenario)


def test_pages_and_names(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        ids = [conv.new_conversation_id() for _ in range(5)]
        for i, cid in enumerate(ids):
            await store(db, turn("o", cid, [{"role": "user", "content": f"q{i}"}], "a"))
            # Timestamps are to the millisecond: each its own, so the order is the test's.
            await asyncio.sleep(0.002)
        await store(db, turn("o", ids[1], [{"role": "user", "content": "more"}], "b"))
        page = await q.list_conversations(db, "o", first=2)
        seen = [(r.id, r.messages) for r in page.records]
        while page.has_next_page:
            page = await q.list_conversations(db, "o", first=2, after=page.end_cursor)
            seen += [(r.id, r.messages) for r in page.records]
        # Each page counts its conversations' messages; ids[1] was used last.
        order = [ids[1], *reversed(ids[2:]), ids[0]]
        assert seen == [(cid, 4 if cid == ids[1] else 2) for cid in order]
        assert (await q.latest_conversation(db, "o")).id == ids[1]  # type: ignore[union-attr]
        with pytest.raises(InvalidRequest):
            await q.list_conversations(db, "o", first=2, after="nonsense")
        assert await conv.rename_conversation(db, "o", ids[0], "plans")
        with pytest.raises(InvalidRequest):
            await conv.rename_conversation(db, "o", ids[1], "plans")
        assert not await conv.rename_conversation(db, "x", ids[1], "plans")
        assert (await q.get_conversation(db, "o", name="plans")).id == ids[0]  # type: ignore[union-attr]

    run(db_url, scenario)


@pytest.mark.parametrize(
    ("metadata", "param"),
    [
        ({f"k{i}": "v" for i in range(17)}, "metadata"),
        ({"k" * 65: "v"}, "metadata." + "k" * 65),
        ({"k": "v" * 513}, "metadata.k"),
        ({"k": 1}, "metadata"),
        ([1], "metadata"),
    ],
)
def test_metadata_rules(metadata: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        conv.check_metadata(metadata)
    assert caught.value.param == param
