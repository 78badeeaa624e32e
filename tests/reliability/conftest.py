"""Shared helpers for the reliability suite: one real server per module where tests only read or
only write their own rows, so the suite stays within its time budget."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer


@pytest.fixture(scope="module")
def module_server(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    server = LiveServer(home=tmp_path_factory.mktemp("srv"), model=tiny_model).start()
    yield server
    server.kill()


def gql(server: LiveServer, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one GraphQL operation that must succeed; returns `data`."""
    response = httpx.post(
        server.url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=server.headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def db_rows(home: Path) -> list[tuple[Any, ...]]:
    """Every todo row, read straight from the server's SQLite file (not through the API)."""
    conn = sqlite3.connect(home / "data" / "chatbot.db")
    try:
        return conn.execute("SELECT id, owner, title, completed FROM todos ORDER BY id").fetchall()
    finally:
        conn.close()
