from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from chatbot_cli.db import conversation_query as q
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
        assert await q.search_messages(db, "bob", "intrusion") == []

    run(db_url, scenario)


def test_search_ranks_highlights_and_scopes(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        a, b = conv.new_conversation_id(), conv.new_conversation_id()
        await store(
            db,
            turn("alice", a, [{"role": "user", "content": "How do penguins sleep?"}], "Standing."),
            turn(
                "alice",
                b,
                [{"role": "user", "content": "Penguins, penguins: all about penguins"}],
                "They live in the south.",
                model="other",
            ),
            turn("bob", conv.new_conversation_id(), [{"role": "user", "content": "penguin"}], "x"),
        )
        hits = await q.search_messages(db, "alice", "penguin")
        assert {h.conversation_id for h in hits} == {a, b}
        assert hits[0].conversation_id == b  # more mentions rank higher
        assert "**" in hits[0].snippet and "enguin" in hits[0].snippet
        found = await q.search_messages(db, "alice", "penguins -sleep")
        assert [h.conversation_id for h in found] == [b]
        assert len(await q.search_messages(db, "alice", '"sleep penguins" or south')) == 1
        assert len(await q.search_messages(db, "alice", "sleep OR south")) == 2
        found = await q.search_messages(db, "alice", "penguin", model="other")
        assert [h.conversation_id for h in found] == [b]
        assert await q.search_messages(db, "alice", 'AND ( " NEAR *') == []
        with pytest.raises(InvalidRequest):
            await q.search_messages(db, "alice", "   ")
        # Deleting a conversation takes its messages out of the index too.
        assert await conv.delete_conversation(db, "alice", b)
        assert [h.conversation_id for h in await q.search_messages(db, "alice", "penguin")] == [a]
        assert not await conv.delete_conversation(db, "bob", a)

    run(db_url, scenario)


def test_pages_and_names(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        ids = [conv.new_conversation_id() for _ in range(5)]
        for i, cid in enumerate(ids):
            await store(db, turn("o", cid, [{"role": "user", "content": f"q{i}"}], "a"))
            # Timestamps are to the millisecond: each its own, so the order is the test's.
            await asyncio.sleep(0.002)
        page = await q.list_conversations(db, "o", first=2)
        seen = [r.id for r in page.records]
        while page.has_next_page:
            page = await q.list_conversations(db, "o", first=2, after=page.end_cursor)
            seen += [r.id for r in page.records]
        assert seen == list(reversed(ids))
        assert (await q.latest_conversation(db, "o")).id == ids[-1]  # type: ignore[union-attr]
        with pytest.raises(InvalidRequest):
            await q.list_conversations(db, "o", first=2, after="nonsense")
        assert await conv.rename_conversation(db, "o", ids[0], "plans")
        with pytest.raises(InvalidRequest):
            await conv.rename_conversation(db, "o", ids[1], "plans")
        assert not await conv.rename_conversation(db, "x", ids[1], "plans")
        assert (await q.get_conversation(db, "o", name="plans")).id == ids[0]  # type: ignore[union-attr]

    run(db_url, scenario)


def test_completions_list_metadata_and_delete(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        cid = conv.new_conversation_id()
        made: list[str] = []
        for i in range(4):
            message = [{"role": "user", "content": f"m{i}"}]
            t = turn("o", cid, message, "a", metadata={"n": str(i % 2)})
            made.append(t.id)
            await store(db, t)
        page, more = await q.list_completions(db, "o", limit=3)
        assert [r.id for r in page] == made[:3] and more
        page, more = await q.list_completions(db, "o", limit=3, after=made[2])
        assert [r.id for r in page] == made[3:] and not more
        page, _ = await q.list_completions(db, "o", limit=10, descending=True, metadata={"n": "1"})
        assert [r.id for r in page] == [made[3], made[1]]
        assert await conv.update_metadata(db, "o", made[0], {"k": "v"})
        record = await q.get_completion(db, "o", made[0])
        assert record is not None and record.metadata == {"k": "v"}
        assert record.request["temperature"] == 0.5
        assert await q.get_completion(db, "x", made[0]) is None
        assert await conv.delete_completion(db, "o", made[0])
        assert len(await q.conversation_messages(db, "o", cid)) == 6

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


def test_fts5_query_is_always_valid_syntax() -> None:
    assert q.fts5_query("penguins sleep") == '"penguins" AND "sleep"'
    assert q.fts5_query('"cold water" or ice -fish') == '"cold water" OR "ice" NOT "fish"'
    assert q.fts5_query('") NEAR(') == '"NEAR"'
    assert q.fts5_query('") (* -') == ""


def test_search_per_conversation_keeps_each_ones_best_message(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        a, b = conv.new_conversation_id(), conv.new_conversation_id()
        ask = [{"role": "user", "content": "tell me about otters"}]
        await store(db, turn("o", a, ask, "Otters hold hands. Otters, otters, otters."))
        await store(db, turn("o", b, [{"role": "user", "content": "otters?"}], "no"))
        every = await q.search_messages(db, "o", "otters")
        assert len(every) == 3
        best = await q.search_messages(db, "o", "otters", per_conversation=True)
        assert [h.conversation_id for h in best] == [a, b]
        assert best[0].role == "assistant"
        second = await q.search_messages(db, "o", "otters", per_conversation=True, offset=1)
        assert [h.conversation_id for h in second] == [b]

    run(db_url, scenario)


def test_only_the_newest_matches_are_ranked(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(q, "RANK_WINDOW", 2)

    async def scenario(db: Database) -> None:
        ids = [conv.new_conversation_id() for _ in range(4)]
        for i, cid in enumerate(ids):
            await store(db, turn("o", cid, [{"role": "user", "content": f"kiwi {i}"}], "ok"))
        await store(
            db,
            turn("other", conv.new_conversation_id(), [{"role": "user", "content": "kiwi"}], "x"),
        )
        found = await q.search_messages(db, "o", "kiwi", per_conversation=True)
        assert {h.conversation_id for h in found} == set(ids[2:])
        # A rarer word finds the old one again: the window is of the matches.
        old = await q.search_messages(db, "o", "kiwi 0")
        assert {h.conversation_id for h in old} == {ids[0]}

    run(db_url, scenario)
