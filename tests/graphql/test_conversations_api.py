"""Conversations over GraphQL on SQLite and PostgreSQL: pages, search with snippets, one
conversation with its messages, usage and context, rename, delete, and NOT_FOUND for another
owner's ids."""

from __future__ import annotations

import time

from chatbot_cli.db import conversations as conv
from chatbot_cli.db.session import Database
from tests.db.test_conversations import turn
from tests.graphql.conftest import GQL

LIST = """query($search: String, $first: Int, $after: String) {
  conversations(search: $search, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id name title model messageCount snippet usage { totalTokens } }
  }
}"""
ONE = """query($id: ID, $name: String) {
  conversation(id: $id, name: $name) {
    id model usage { promptTokens completionTokens totalTokens }
    messages { role content createdAt }
    context { role content }
  }
}"""


def seed(gql: GQL, owner: str, texts: list[str]) -> list[str]:
    ids = []
    for text in texts:
        cid = conv.new_conversation_id()
        stored = turn(owner, cid, [{"role": "user", "content": text}], f"answer to {text}")

        async def write(db: Database, t: conv.StoredTurn = stored) -> None:
            await db.write(lambda c: conv.store_turns(c, [t]))

        gql.run(write)
        ids.append(cid)
        time.sleep(0.002)  # timestamps are to the millisecond: each its own, in order
    return ids


def test_pages_and_one_conversation(gql: GQL) -> None:
    ids = seed(gql, "default", [f"topic {i}" for i in range(5)])
    seen, after = [], None
    while True:
        page = gql.ok(LIST, {"first": 2, "after": after})["conversations"]
        seen += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(reversed(ids))

    one = gql.ok(ONE, {"id": ids[0]})["conversation"]
    assert [(m["role"], m["content"]) for m in one["messages"]] == [
        ("user", "topic 0"),
        ("assistant", "answer to topic 0"),
    ]
    assert one["usage"] == {"promptTokens": 5, "completionTokens": 3, "totalTokens": 8}
    assert one["model"] == "default" and len(one["context"]) == 2
    assert gql.ok(ONE, {})["conversation"]["id"] == ids[-1]  # no id: the latest


def test_search_ranks_and_highlights(gql: GQL) -> None:
    ids = seed(gql, "default", ["walrus tusks", "walrus walrus walrus", "nothing here"])
    found = gql.ok(LIST, {"search": "walrus", "first": 1})["conversations"]
    assert [n["id"] for n in found["nodes"]] == [ids[1]]
    assert "**" in found["nodes"][0]["snippet"]
    rest = gql.ok(LIST, {"search": "walrus", "first": 5, "after": found["pageInfo"]["endCursor"]})[
        "conversations"
    ]
    assert [n["id"] for n in rest["nodes"]] == [ids[0]]
    assert not rest["pageInfo"]["hasNextPage"]
    error = gql.error(LIST, {"search": "other", "after": found["pageInfo"]["endCursor"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert gql.error(LIST, {"search": "  "})["extensions"]["code"] == "BAD_USER_INPUT"
    assert gql.error(LIST, {"first": 101})["extensions"]["code"] == "BAD_USER_INPUT"


def test_rename_delete_and_other_owners(gql: GQL) -> None:
    mine = seed(gql, "default", ["secret plans"])[0]
    rename = (
        "mutation($id: ID!, $name: String) { renameConversation(id: $id, name: $name) { id name } }"
    )
    delete = "mutation($id: ID!) { deleteConversation(id: $id) }"
    assert gql.ok(rename, {"id": mine, "name": "plans"})["renameConversation"]["name"] == "plans"
    assert gql.ok(ONE, {"name": "plans"})["conversation"]["id"] == mine

    bob = gql.new_key("bob")
    for query, variables in (
        (ONE, {"id": mine}),
        (ONE, {"name": "plans"}),
        (ONE, {}),
        (rename, {"id": mine, "name": "mine now"}),
        (delete, {"id": mine}),
    ):
        assert gql.error(query, variables, key=bob)["extensions"]["code"] == "NOT_FOUND"
    assert gql.ok(LIST, {"search": "secret"}, key=bob)["conversations"]["nodes"] == []

    other = seed(gql, "default", ["other"])[0]
    taken = gql.error(rename, {"id": other, "name": "plans"})
    assert taken["extensions"]["code"] == "BAD_USER_INPUT"

    assert gql.ok(delete, {"id": mine})["deleteConversation"] == mine
    assert gql.error(ONE, {"id": mine})["extensions"]["code"] == "NOT_FOUND"
    assert gql.ok(LIST, {"search": "secret"})["conversations"]["nodes"] == []
    # Deleting one conversation leaves the others as they were.
    assert gql.ok(ONE, {"id": other})["conversation"]["messages"]
