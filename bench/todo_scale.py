"""Figure 7: one owner with 100,000 todos, on SQLite and on PostgreSQL.

The todos are written straight into the database (through the package's own tables and
migrations; seeding 100,000 over HTTP would take minutes), then a real `chatbot serve` on that
database answers, one request at a time, the query `chatbot todo list` sends (most urgent first):
- its first page,
- with `--tag work` (one todo in ten has the tag),
- with `--search needle` (five todos match, so every title is searched).
A third of the todos have a due date (from four days overdue to two weeks ahead), priorities are
spread evenly and a quarter are done: many todos compete for the most urgent page.
Each is the median of several requests measured at the client, so the figure is server time plus
one loopback HTTP round trip; the `{ __typename }` request on the same server is the baseline,
sent after each request (alternating), and the note gives the ratio of each pair. It also gives
the server process's CPU time a request (all threads, from /proc/<pid>/task/*/schedstat), which
a busy machine does not inflate the way it inflates wall time.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.common import Context, Row, database_server, median, ms, on_sqlite_and_postgres, ratio
from bench.todo_api import cpu_ns

TODOS = 100_000
QUICK_TODOS = 20_000  # --quick: the table stays complete, in less time
TARGET_S = 0.050
OWNER = "default"  # the owner of the server's configured key

# What `chatbot todo list` sends (cli/todo.py): its default page, most urgent first.
LIST_VARIABLES: dict[str, Any] = {"sort": "URGENCY", "first": 100}
QUERIES = (
    ("todo list, first page", LIST_VARIABLES),
    ("todo list --tag work", {**LIST_VARIABLES, "tag": "work"}),
    ("todo list --search needle", {**LIST_VARIABLES, "search": "needle"}),
)
FLOOR = "{ __typename }"


def _rows(count: int, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    todos: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    for i in range(1, count + 1):
        created = now - timedelta(minutes=count - i)
        words = ["work"] if i % 10 == 0 else []
        words += ["home"] if i % 7 == 0 else []
        todos.append(
            {
                "id": i,
                "title": f"seed task {i}" + (" needle" if i % 20_000 == 0 else ""),
                "completed": i % 4 == 0,
                "created_at": created,
                "updated_at": created,
                "owner": OWNER,
                "due": now + timedelta(hours=i % 500 - 100) if i % 3 == 0 else None,
                "priority": i % 4,
                "project": f"project {i % 50}" if i % 5 == 0 else None,
                "notes": None,
                "tags": " ".join(words),
                "uid": None,
            }
        )
        tags += [{"todo_id": i, "tag": w, "owner": OWNER} for w in words]
    return todos, tags


async def seed(url: str, count: int = TODOS) -> None:
    """`count` todos for OWNER in a fresh database at `url`, migrated to head."""
    from sqlalchemy import insert, text

    from chatbot_cli.db.models import todo_tags, todos
    from chatbot_cli.db.session import Database

    todo_rows, tag_rows = _rows(count, datetime.now(UTC))

    def write(conn: Any) -> None:
        for start in range(0, len(todo_rows), 5000):
            conn.execute(insert(todos), todo_rows[start : start + 5000])
        for start in range(0, len(tag_rows), 5000):
            conn.execute(insert(todo_tags), tag_rows[start : start + 5000])
        if conn.dialect.name == "postgresql":
            # Explicit ids: move the sequence past them, as a real history would have.
            conn.execute(text("SELECT setval('todos_id_seq', :n)"), {"n": count})

    async with Database(url) as db:
        await db.upgrade()
        await db.write(write)
        if not db.is_sqlite:
            await db.write(lambda conn: conn.execute(text("ANALYZE")))
        else:
            await db.write(lambda conn: conn.exec_driver_sql("ANALYZE"))


def _alternate(
    url: str, headers: dict[str, str], query: str, variables: dict[str, Any], runs: int, pid: int
) -> tuple[list[float], list[float], list[float], Any]:
    """`query` and the floor one request at a time, alternating, `runs` pairs after two warm-up
    pairs: the query's latencies, the floor's, the server's CPU time for each query request,
    and the last response's data."""
    times: list[float] = []
    floors: list[float] = []
    cpu: list[float] = []
    data: Any = None
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for i in range(runs + 2):
            before = cpu_ns(pid)[0]
            t0 = time.perf_counter()
            r = client.post("/graphql", json={"query": query, "variables": variables})
            elapsed = time.perf_counter() - t0
            used = (cpu_ns(pid)[0] - before) / 1e9
            r.raise_for_status()
            body = r.json()
            if body.get("errors"):
                raise RuntimeError(f"figure 7 query failed: {body['errors'][0]}")
            data = body["data"]
            t0 = time.perf_counter()
            client.post("/graphql", json={"query": FLOOR}).raise_for_status()
            floor = time.perf_counter() - t0
            if i >= 2:  # the first two warm the connection and the caches
                times.append(elapsed)
                floors.append(floor)
                cpu.append(used)
    return times, floors, cpu, data


def _measure(ctx: Context, kind: str, url: str) -> list[Row]:
    count = QUICK_TODOS if ctx.quick else TODOS
    ctx.log(f"figure 7: seeding {count} todos on {kind}")
    asyncio.run(seed(url, count))
    server = database_server(ctx, f"scale-{kind}", url)
    runs = 5 if ctx.quick else 15
    try:
        from chatbot_cli.cli.todo_queries import Q_PAGE

        rows = []
        assert server.proc is not None
        for name, variables in QUERIES:
            times, floors, cpu, data = _alternate(
                server.url, server.headers, Q_PAGE, variables, runs, server.proc.pid
            )
            took, floor = median(times), median(floors)
            pairs = [a / b for a, b in zip(times, floors, strict=True)]
            shown = len(data["todosConnection"]["nodes"])
            rows.append(
                Row(
                    f"7. {name} ({kind}, {count // 1000}k todos)",
                    ms(took),
                    f"{{ __typename }} {ms(floor)}",
                    ratio(took, floor),
                    f"≤ {TARGET_S * 1000:.0f} ms",
                    took <= TARGET_S,
                    f"{shown} shown; {runs} alternating pairs, ratio of each: median "
                    f"{median(pairs):.2f}, best {min(pairs):.2f}, worst {max(pairs):.2f}; "
                    f"server CPU a request: median {ms(median(cpu))}, best {ms(min(cpu))}, "
                    f"worst {ms(max(cpu))}",
                )
            )
        return rows
    finally:
        server.stop()


def run(ctx: Context) -> list[Row]:
    return on_sqlite_and_postgres(ctx, "7", "scale.db", _measure)
