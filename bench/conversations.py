"""Figure 11: stored conversations, on SQLite and on PostgreSQL.

11a. What storing one completion costs (`store: true`): the server's own write of a turn
    (`db.conversations.store_turns` through `Database.write_off_loop`, as server/store.py runs it
    after the answer), p50 and p99 in this process, against the title-only `create_todo` write
    measured alternating with it. The client never waits for it; this is the database's work a
    stored answer adds.
11b. `chatbot log search` over 10,000 stored messages: the GraphQL request it sends
    (`conversations(search:, first: 20)`, ranked, with snippets) to a real `chatbot serve`, one
    at a time, p50 and p99 at the client, against `{ __typename }` on the same server. The
    messages are synthetic chat text as a search index sees it, stop words removed: words drawn
    from a 3,000-word vocabulary with Zipf frequencies offset by the 50 stop words left out, so
    the commonest word is in about a third of the messages and a rare one in a few; the queries
    mix common and rare words, a phrase, `or` and `-word`.

Figure 1's `store: true` row is in bench/streaming.py.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.common import (
    Context,
    Row,
    database_server,
    median,
    ms,
    on_sqlite_and_postgres,
    percentile,
    ratio,
)

MESSAGES = 10_000
QUICK_MESSAGES = 2_000
SEARCH_TARGET_S = 0.050
VOCABULARY = 3_000
STOP_WORDS = 50
# What `chatbot log search` sends (cli/log.py).
Q_SEARCH = """query($first: Int, $search: String) {
  conversations(first: $first, search: $search) {
    nodes { id name title model createdAt updatedAt messageCount usage { totalTokens } snippet }
  }
}"""


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


class Corpus:
    def __init__(self, seed: int = 8) -> None:
        self.rng = random.Random(seed)
        self.words = _vocabulary(self.rng)
        weights = [1 / (rank + 1 + STOP_WORDS) for rank in range(len(self.words))]
        self.weights = weights

    def text(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=n)) + "."

    def queries(self) -> list[str]:
        w = self.words
        return [
            w[0],  # the commonest word: in about a third of the messages
            w[40],
            w[400],
            w[2500],  # rare
            f"{w[30]} {w[90]}",
            f'"{w[0]} {w[1]}"',
            f"{w[700]} or {w[800]}",
            f"{w[50]} -{w[3]}",
        ]


def _turns(corpus: Corpus, owner: str, messages: int) -> list[Any]:
    """Conversations of two turns (user, assistant, user, assistant): 4 messages each."""
    from chatbot_cli.db.conversations import StoredTurn, new_completion_id, new_conversation_id

    turns: list[StoredTurn] = []
    for _ in range(messages // 4):
        cid = new_conversation_id()
        history: list[dict[str, str]] = []
        for _ in range(2):
            history.append({"role": "user", "content": corpus.text(corpus.rng.randint(8, 30))})
            answer = corpus.text(corpus.rng.randint(40, 120))
            turns.append(
                StoredTurn(
                    id=new_completion_id(),
                    owner=owner,
                    conversation_id=cid,
                    model="default",
                    created=datetime.now(UTC),
                    messages=list(history),
                    params={"temperature": 0.7},
                    metadata={},
                    response=_response(answer),
                )
            )
            history.append({"role": "assistant", "content": answer})
    return turns


def _response(answer: str) -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 80, "total_tokens": 120},
    }


async def _store_cost(url: str, runs: int) -> tuple[list[float], list[float]]:
    """Seconds per stored turn and per title-only create_todo, alternating."""
    from chatbot_cli.db.conversations import store_turns
    from chatbot_cli.db.session import Database
    from chatbot_cli.db.todos import create_todo

    made = _turns(Corpus(seed=81), "bench", runs * 4)
    # Each timed turn is a second turn: it continues a conversation, as most turns do.
    firsts, turns = made[0::2], made[1::2]
    stored: list[float] = []
    todos: list[float] = []
    async with Database(url) as db:
        await db.upgrade()
        await db.write_off_loop(lambda conn: store_turns(conn, firsts))
        for i, turn in enumerate(turns):
            t0 = time.perf_counter()
            await db.write_off_loop(lambda conn, t=turn: store_turns(conn, [t]))
            t1 = time.perf_counter()
            await create_todo(db, "bench", f"todo {i}")
            t2 = time.perf_counter()
            stored.append(t1 - t0)
            todos.append(t2 - t1)
    return stored, todos


async def _seed(url: str, messages: int) -> None:
    from chatbot_cli.db.conversations import store_turns
    from chatbot_cli.db.session import Database

    turns = _turns(Corpus(), "default", messages)
    async with Database(url) as db:
        await db.upgrade()
        for start in range(0, len(turns), 500):
            batch = turns[start : start + 500]
            await db.write(lambda conn, b=batch: store_turns(conn, b))
        await db.write(lambda conn: conn.exec_driver_sql("ANALYZE"))


def _search_latency(
    url: str, headers: dict[str, str], rounds: int
) -> tuple[list[float], list[float], int]:
    """Seconds per search (every query, `rounds` times) and per `{ __typename }`, alternating."""
    queries = Corpus().queries()
    search: list[float] = []
    floor: list[float] = []
    hits = 0
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:

        def post(query: str, variables: dict[str, Any]) -> tuple[float, Any]:
            t0 = time.perf_counter()
            r = client.post("/graphql", json={"query": query, "variables": variables})
            took = time.perf_counter() - t0
            body = r.json()
            if r.status_code != 200 or body.get("errors"):
                raise RuntimeError(f"figure 11 query failed: {r.text[:300]}")
            return took, body["data"]

        for text in queries[:2]:  # warm the connection and the caches
            post(Q_SEARCH, {"first": 20, "search": text})
        for _ in range(rounds):
            for text in queries:
                took, data = post(Q_SEARCH, {"first": 20, "search": text})
                search.append(took)
                hits += len(data["conversations"]["nodes"])
                floor.append(post("{ __typename }", {})[0])
    return search, floor, hits


def _rows_for(ctx: Context, kind: str, url: str) -> list[Row]:
    runs = 30 if ctx.quick else 200
    ctx.log(f"figure 11a: storing {runs} turns on {kind}")
    stored, todos = asyncio.run(_store_cost(url, runs))
    rows = [
        Row(
            f"11a. store one completion ({kind})",
            f"p50 {ms(median(stored))}, p99 {ms(percentile(stored, 99))}",
            f"createTodo write p50 {ms(median(todos))}",
            ratio(median(stored), median(todos)),
            "—",
            None,
            "off the loop, after the answer; a second turn of a conversation",
        )
    ]
    count = QUICK_MESSAGES if ctx.quick else MESSAGES
    ctx.log(f"figure 11b: seeding {count} messages on {kind}")
    asyncio.run(_seed(url, count))
    server = database_server(ctx, f"conversations-{kind}", url)
    try:
        search, floor, hits = _search_latency(server.url, server.headers, 2 if ctx.quick else 8)
    finally:
        server.stop()
    p99 = percentile(search, 99)
    rows.append(
        Row(
            f"11b. log search ({kind}, {count // 1000}k messages)",
            f"p50 {ms(median(search))}, p99 {ms(p99)}",
            f"{{ __typename }} p50 {ms(median(floor))}",
            ratio(median(search), median(floor)),
            f"p99 ≤ {SEARCH_TARGET_S * 1000:.0f} ms",
            p99 <= SEARCH_TARGET_S,
            f"{len(search)} searches, {hits / max(len(search), 1):.0f} conversations shown each",
        )
    )
    return rows


def run(ctx: Context) -> list[Row]:
    return on_sqlite_and_postgres(ctx, "11", "conversations.db", _rows_for)
