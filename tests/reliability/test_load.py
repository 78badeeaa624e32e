"""A short load test: 2,000 mixed todo operations (create, update, delete, list) from 32
concurrent clients under three keys against a real server. Each client owns its own todos and
tracks what every acknowledged operation must have done; afterwards the database rows equal the
union of those expectations exactly."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.live import LiveServer
from tests.reliability.conftest import db_rows

pytestmark = pytest.mark.e2e

OPERATIONS = 2000
CLIENTS = 32
FIELDS = "id title completed"


@dataclass
class Tally:
    ops: dict[str, int] = field(default_factory=dict)

    def count(self, op: str) -> None:
        self.ops[op] = self.ops.get(op, 0) + 1


async def run_client(
    http: httpx.AsyncClient, n: int, owner: str, key: str, ops: int, tally: Tally
) -> dict[int, tuple[str, str, bool]]:
    """Returns {id: (owner, title, completed)} as this client's acknowledged ops left it."""
    rng = random.Random(n)
    prefix = f"L{n:02d}-"
    expected: dict[int, tuple[str, str, bool]] = {}
    headers = {"Authorization": f"Bearer {key}"}

    async def call(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    for i in range(ops):
        roll = rng.random()
        if not expected or roll < 0.35:
            title = f"{prefix}{i}"
            body = await call(
                f"mutation ($t: String!) {{ createTodo(title: $t) {{ {FIELDS} }} }}", {"t": title}
            )
            made = body["data"]["createTodo"]
            assert (made["title"], made["completed"]) == (title, False)
            expected[int(made["id"])] = (owner, title, False)
            tally.count("create")
        elif roll < 0.60:
            todo_id = rng.choice(list(expected))
            _, title, completed = expected[todo_id]
            if rng.random() < 0.5:
                title, variables = f"{prefix}{i}u", {"id": todo_id, "t": f"{prefix}{i}u"}
                query = "mutation ($id: Int!, $t: String) { updateTodo(id: $id, title: $t)"
            else:
                completed, variables = not completed, {"id": todo_id, "c": not completed}
                query = "mutation ($id: Int!, $c: Boolean) { updateTodo(id: $id, completed: $c)"
            body = await call(f"{query} {{ {FIELDS} }} }}", variables)
            assert body["data"]["updateTodo"] == {
                "id": todo_id,
                "title": title,
                "completed": completed,
            }
            expected[todo_id] = (owner, title, completed)
            tally.count("update")
        elif roll < 0.75:
            todo_id = rng.choice(list(expected))
            body = await call(f"mutation {{ deleteTodo(id: {todo_id}) {{ id }} }}")
            assert body["data"]["deleteTodo"]["id"] == todo_id
            del expected[todo_id]
            tally.count("delete")
        elif roll < 0.80:
            # Someone else's (or nobody's) id: NOT_FOUND, and nothing changes.
            body = await call(f"mutation {{ deleteTodo(id: {10**6 + n}) {{ id }} }}")
            assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
            tally.count("not_found")
        else:
            body = await call(
                f"query ($s: String) {{ todos(search: $s, limit: 1000) {{ {FIELDS} }} }}",
                {"s": prefix},
            )
            seen = {
                int(t["id"]): (owner, t["title"], t["completed"]) for t in body["data"]["todos"]
            }
            assert seen == expected
            tally.count("list")
    return expected


async def run_load(server: LiveServer, owners: dict[str, str]) -> tuple[dict[int, Any], Tally]:
    tally = Tally()
    names = list(owners)
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
        results = await asyncio.gather(
            *(
                run_client(
                    http,
                    n,
                    names[n % len(names)],
                    owners[names[n % len(names)]],
                    OPERATIONS // CLIENTS + (n < OPERATIONS % CLIENTS),
                    tally,
                )
                for n in range(CLIENTS)
            )
        )
    merged: dict[int, Any] = {}
    for expected in results:
        assert not merged.keys() & expected.keys()
        merged.update(expected)
    return merged, tally


def test_2000_mixed_operations_from_32_clients(module_server: LiveServer) -> None:
    from chatbot_cli.cli.app import app

    owners = {"default": module_server.api_key}
    for name in ("loader-a", "loader-b"):
        result = CliRunner().invoke(app, ["keys", "create", name], env=module_server.env)
        assert result.exit_code == 0, result.stderr
        owners[name] = result.stdout.strip()

    began = time.monotonic()
    try:
        expected, tally = asyncio.run(run_load(module_server, owners))
    except Exception as exc:
        # The server's side of a failure (a traceback, a crash) is in its log, not in the client's.
        raise AssertionError(f"load failed; server log:\n{module_server.log()[-6000:]}") from exc
    elapsed = time.monotonic() - began
    print(f"{sum(tally.ops.values())} ops in {elapsed:.1f}s: {tally.ops}, {len(expected)} rows")

    assert sum(tally.ops.values()) == OPERATIONS
    assert all(tally.ops.get(op, 0) > 50 for op in ("create", "update", "delete", "list"))
    rows = {i: (owner, title, bool(done)) for i, owner, title, done in db_rows(module_server.home)}
    assert rows == expected
    assert "database is locked" not in module_server.log()
