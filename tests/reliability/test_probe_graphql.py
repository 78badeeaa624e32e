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
