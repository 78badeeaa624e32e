"""The GraphQL surface probed against a real server the way issue 22 found its defects: what a
document can make the server do, and whether an operator can see it happen."""

from __future__ import annotations

import httpx
import pytest

from tests.live import LiveServer
from tests.reliability.conftest import db_rows

pytestmark = pytest.mark.e2e


def post(server: LiveServer, body: dict[str, object]) -> httpx.Response:
    return httpx.post(server.url + "/graphql", json=body, headers=server.headers, timeout=30)


def test_ambiguous_document_runs_nothing(module_server: LiveServer) -> None:
    before = db_rows(module_server.home)
    document = 'mutation B { createTodo(title: "probe-ambiguous") { id } } query A { todos { id } }'
    response = post(module_server, {"query": document})
    assert response.status_code == 200, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
    assert db_rows(module_server.home) == before
    chosen = post(module_server, {"query": document, "operationName": "A"})
    assert chosen.status_code == 200 and "errors" not in chosen.json(), chosen.text
    assert db_rows(module_server.home) == before


def test_graphql_is_visible_in_metrics(module_server: LiveServer) -> None:
    def scrape() -> dict[str, float]:
        text = httpx.get(module_server.url + "/metrics", timeout=10).text
        wanted = ("chatbot_http_requests_total{", "chatbot_graphql_operations_total{")
        lines = [line.rsplit(" ", 1) for line in text.splitlines() if line.startswith(wanted)]
        return {name: float(number) for name, number in lines}

    before = scrape()
    assert post(module_server, {"query": "{ todos { id } }"}).status_code == 200
    made = post(module_server, {"query": 'mutation { createTodo(title: "probe-m") { id } }'})
    assert made.status_code == 200, made.text
    after = scrape()
    changed = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    assert changed == {
        'chatbot_http_requests_total{method="POST",route="/graphql",status="200"}': 2,
        'chatbot_graphql_operations_total{operation="query",outcome="ok"}': 1,
        'chatbot_graphql_operations_total{operation="mutation",outcome="ok"}': 1,
        # the first scrape itself, counted once it had finished
        'chatbot_http_requests_total{method="GET",route="/metrics",status="200"}': 1,
    }
