"""GraphQL against a real `chatbot serve`: seed examples, concurrency, kill -9 durability,
ownership across keys made with `chatbot keys`, revocation, and hostile input."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.e2e

SEED_QUERY = "query {\n  todos {\n    id\n    title\n    completed\n    createdAt\n  }\n}"
SEED_MUTATION = (
    'mutation {\n  createTodo(title: "Test Todo") {\n    id\n    title\n    completed\n'
    "    createdAt\n  }\n}"
)


def gql(
    server: LiveServer,
    query: str,
    variables: dict | None = None,
    key: str | None = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else server.headers
    return httpx.post(
        server.url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=30,
    )


def data(
    server: LiveServer,
    query: str,
    variables: dict | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    response = gql(server, query, variables, key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def error(
    server: LiveServer,
    query: str,
    variables: dict | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    response = gql(server, query, variables, key)
    assert response.status_code < 500, response.text
    return response.json()["errors"][0]  # type: ignore[no-any-return]


def keys_cli(server: LiveServer, *args: str) -> str:
    """`chatbot keys` on the server's database (in-process: it needs no server)."""
    from typer.testing import CliRunner

    from chatbot_cli.cli.app import app

    result = CliRunner().invoke(app, ["keys", *args], env=server.env)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def test_seed_examples_verbatim(live_server: LiveServer) -> None:
    made = data(live_server, SEED_MUTATION)["createTodo"]
    assert made["title"] == "Test Todo" and made["completed"] is False
    assert data(live_server, SEED_QUERY)["todos"] == [made]


def test_200_concurrent_creates(live_server: LiveServer) -> None:
    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(
            base_url=live_server.url, headers=live_server.headers, timeout=60, limits=limits
        ) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/graphql",
                        json={
                            "query": "mutation ($t: String!) { createTodo(title: $t) { id } }",
                            "variables": {"t": f"todo {i}"},
                        },
                    )
                    for i in range(200)
                )
            )

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    bodies = [r.json() for r in responses]
    assert not [b for b in bodies if "errors" in b]
    ids = {b["data"]["createTodo"]["id"] for b in bodies}
    assert len(ids) == 200
    total = data(live_server, "{ todosConnection { totalCount } }")["todosConnection"]
    assert total["totalCount"] == 200
    assert "database is locked" not in live_server.log()


def test_acknowledged_write_survives_kill_9(
    start_server: Callable[..., LiveServer], tmp_path: Any
) -> None:
    home = tmp_path / "durable"
    first = start_server(home=home)
    made = data(first, 'mutation { createTodo(title: "survive") { id } }')["createTodo"]
    first.kill()
    second = start_server(home=home)
    assert data(second, f"{{ todo(id: {made['id']}) {{ title }} }}")["todo"]["title"] == "survive"
    second.kill()
    conn = sqlite3.connect(home / "data" / "chatbot.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_ownership_matrix_and_revocation(live_server: LiveServer) -> None:
    alice = keys_cli(live_server, "create", "alice")
    bob = keys_cli(live_server, "create", "bob")
    a = data(live_server, 'mutation { createTodo(title: "a") { id } }', key=alice)["createTodo"]
    b = data(live_server, 'mutation { createTodo(title: "b") { id } }', key=bob)["createTodo"]
    data(live_server, 'mutation { createTodo(title: "d") { id } }')
    data(
        live_server, f"mutation {{ updateTodo(id: {b['id']}, completed: true) {{ id }} }}", key=bob
    )

    def titles(key: str | None) -> list[str]:
        return [t["title"] for t in data(live_server, "{ todos { title } }", key=key)["todos"]]

    assert (titles(alice), titles(bob), titles(None)) == (["a"], ["b"], ["d"])
    for other, victim in ((alice, b["id"]), (bob, a["id"]), (None, a["id"])):
        for query in (
            f"{{ todo(id: {victim}) {{ id }} }}",
            f'mutation {{ updateTodo(id: {victim}, title: "x") {{ id }} }}',
            f"mutation {{ updateTodo(id: {victim}, completed: true) {{ id }} }}",
            f"mutation {{ deleteTodo(id: {victim}) {{ id }} }}",
        ):
            err = error(live_server, query, key=other)
            assert err["extensions"]["code"] == "NOT_FOUND", query
        if other != bob:  # bob's own completed todo is his to clear
            cleared = data(live_server, "mutation { clearCompleted }", key=other)
            assert cleared["clearCompleted"] == 0
    assert (titles(alice), titles(bob), titles(None)) == (["a"], ["b"], ["d"])

    listed = json.loads(keys_cli(live_server, "list", "--json"))
    assert all(row["last_used_at"] for row in listed)
    assert alice not in json.dumps(listed)

    keys_cli(live_server, "revoke", "alice")
    refused = gql(live_server, "{ todos { id } }", key=alice)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert titles(bob) == ["b"]


def test_401_envelope(live_server: LiveServer) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = httpx.post(
            live_server.url + "/graphql", json={"query": SEED_MUTATION}, headers=headers
        )
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert data(live_server, "{ todos { id } }")["todos"] == []


def test_hostile_input_never_500_and_writes_nothing(live_server: LiveServer) -> None:
    url = live_server.url + "/graphql"
    auth = live_server.headers
    bodies: list[tuple[bytes, str]] = [
        (b"{not json", "application/json"),
        (b'"just a string"', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"[" * 20_000 + b"]" * 20_000, "application/json"),
        (b"query { todos { id } }", "text/plain"),
        (
            json.dumps({"query": "{ todos " + "{ id " * 100 + "}" * 101}).encode(),
            "application/json",
        ),
        (
            json.dumps(
                {
                    "query": "mutation { "
                    + " ".join(f'm{i}: createTodo(title: "x") {{ id }}' for i in range(60))
                    + " }"
                }
            ).encode(),
            "application/json",
        ),
        (
            json.dumps({"query": 'mutation { createTodo(title: "\\ud800") { id } }'}).encode(),
            "application/json",
        ),
        (
            b'{"query": "mutation ($t: String!) { createTodo(title: $t) { id } }", '
            b'"variables": {"t": "\\ud800x"}}',
            "application/json",
        ),
        (
            json.dumps(
                {
                    "query": "mutation ($t: String!) { createTodo(title: $t) { id } }",
                    "variables": {"t": "a\x00b"},
                }
            ).encode(),
            "application/json",
        ),
        (
            json.dumps(
                {
                    "query": "mutation ($t: String!) { createTodo(title: $t) { id } }",
                    "variables": {"t": "x" * 2_000_000},
                }
            ).encode(),
            "application/json",
        ),
        (
            json.dumps(
                {
                    "query": "mutation ($t: String!) { createTodo(title: $t) { id } }",
                    "variables": {"t": "x" * 600},
                }
            ).encode(),
            "application/json",
        ),
    ]
    for body, content_type in bodies:
        response = httpx.post(
            url, content=body, headers={**auth, "content-type": content_type}, timeout=30
        )
        assert response.status_code < 500, (body[:80], response.status_code, response.text)
        if response.status_code == 200:
            assert response.json()["errors"][0]["extensions"]["code"]
    assert data(live_server, "{ todos { id } }")["todos"] == []

    for title in ("שלום עולם", "مرحبا", "🎉👩‍💻", "\u202eevil"):
        made = data(
            live_server, "mutation ($t: String!) { createTodo(title: $t) { title } }", {"t": title}
        )
        assert made["createTodo"]["title"] == title
