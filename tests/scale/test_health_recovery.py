"""A real `chatbot serve` on a private PostgreSQL cluster that is stopped and started again:
/health says the database is down while it is, requests fail with a clear 503-class error (never
a 500), and everything recovers on its own when the database comes back."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.live import LiveServer
from tests.scale.pgcluster import Cluster

pytestmark = pytest.mark.e2e

LIST = {"query": "{ todos { id title } }"}


def health(server: LiveServer) -> httpx.Response:
    return httpx.get(server.url + "/health", timeout=10)


def test_database_down_then_back(
    start_server: Callable[..., LiveServer], pg_cluster: Cluster
) -> None:
    from tests.cli.test_todo import cli

    server = start_server(
        extra_env={"CHATBOT_DATABASE_URL": pg_cluster.url, "CHATBOT_DB_CONNECT_TIMEOUT": "2"}
    )
    made = httpx.post(
        server.url + "/graphql",
        json={"query": 'mutation { createTodo(title: "before") { id } }'},
        headers=server.headers,
        timeout=10,
    )
    assert made.status_code == 200 and "errors" not in made.json()
    alice = cli(server.env, "keys", "create", "alice").stdout.strip()
    assert health(server).json()["database"]["status"] == "ok"

    pg_cluster.stop()

    down = health(server)
    assert down.status_code == 503
    assert down.json()["database"]["status"] == "down"
    assert down.json()["engine"]["status"] == "ok"

    # GraphQL with the server's key: a GraphQL error with a code, not a masked 500.
    response = httpx.post(server.url + "/graphql", json=LIST, headers=server.headers, timeout=10)
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    # A key that must be looked up in the database: the OpenAI envelope with 503, not 500.
    looked_up = httpx.post(
        server.url + "/graphql",
        json=LIST,
        headers={"Authorization": f"Bearer {alice}"},
        timeout=10,
    )
    assert looked_up.status_code == 503, looked_up.text
    assert looked_up.json()["error"]["code"] == "database_unavailable"
    assert looked_up.headers.get("retry-after")
    # The CLI: one line on stderr and a non-zero exit.
    listed = cli(server.env, "todo", "list")
    assert listed.returncode != 0 and listed.stdout == ""
    assert len(listed.stderr.splitlines()) == 1 and "database" in listed.stderr.lower()
    # Chat completions need no database: still served with the server's key.
    model = httpx.get(server.url + "/v1/models", headers=server.headers).json()["data"][0]["id"]
    chat = httpx.post(
        server.url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        headers=server.headers,
        timeout=30,
    )
    assert chat.status_code == 200, chat.text

    pg_cluster.start()

    deadline = time.monotonic() + 15
    while health(server).status_code != 200:
        assert time.monotonic() < deadline, "health did not recover"
        time.sleep(0.2)
    titles = httpx.post(server.url + "/graphql", json=LIST, headers=server.headers, timeout=10)
    assert [t["title"] for t in titles.json()["data"]["todos"]] == ["before"]
    again = httpx.post(
        server.url + "/graphql",
        json=LIST,
        headers={"Authorization": f"Bearer {alice}"},
        timeout=10,
    )
    assert again.status_code == 200 and again.json()["data"]["todos"] == []
    assert "Traceback" not in server.log()
