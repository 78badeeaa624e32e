from __future__ import annotations

import pytest

from chatbot_cli.db import conversation_search as q
from chatbot_cli.db import conversations as conv
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest
from tests.db.helpers import run
from tests.db.test_conversations import store, turn


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


def test_conversation_search_returns_the_owners_conversations_with_their_best_message(
    db_url: str,
) -> None:
    async def scenario(db: Database) -> None:
        a, b = conv.new_conversation_id(), conv.new_conversation_id()
        await store(
            db,
            turn("o", a, [{"role": "user", "content": "walrus facts"}], "A walrus, a walrus."),
            turn("o", b, [{"role": "user", "content": "one walrus"}], "ok"),
            turn("x", conv.new_conversation_id(), [{"role": "user", "content": "walrus"}], "y"),
        )
        found = await q.search_conversations(db, "o", "walrus", limit=5)
        assert [(r.id, r.messages) for r, _ in found] == [(a, 2), (b, 2)]
        assert [h.conversation_id for _, h in found] == [a, b]
        assert found[0][1].role == "assistant" and "**walrus**" in found[0][1].snippet.lower()
        later = await q.search_conversations(db, "o", "walrus", limit=5, offset=1)
        assert [r.id for r, _ in later] == [b]
        assert await q.search_conversations(db, "o", "walrus", limit=5, model="other") == []

    run(db_url, scenario)
