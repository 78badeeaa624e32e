"""The whole app in-process (`create_app` with no engine and a database of its own), over SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chatbot_cli.auth import generate_key, hash_key
from chatbot_cli.config import load_settings
from chatbot_cli.db.keys import create_key, revoke_key
from chatbot_cli.db.session import Database
from chatbot_cli.server.app import create_app
from tests.db.pg import database_urls

DEFAULT_KEY = "sk-test-default-key"


def build_app(url: str) -> FastAPI:
    """The whole app on its own database, with no engine (todos only)."""
    settings = load_settings(api_key=DEFAULT_KEY, engine="none")
    return create_app(settings, database=Database(url))


@dataclass
class GQL:
    client: TestClient
    database: Database

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        key: str = DEFAULT_KEY,
    ) -> Any:
        return self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {key}"},
        )

    def ok(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        key: str = DEFAULT_KEY,
    ) -> dict[str, Any]:
        response = self.post(query, variables, key)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]

    def error(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        key: str = DEFAULT_KEY,
    ) -> dict[str, Any]:
        response = self.post(query, variables, key)
        assert response.status_code < 500, response.text
        body = response.json()
        assert body.get("errors"), body
        return body["errors"][0]  # type: ignore[no-any-return]

    def new_key(self, name: str) -> str:
        key = generate_key()
        self.client.portal.call(create_key, self.database, name, hash_key(key))  # type: ignore[union-attr]
        return key

    def revoke(self, name: str) -> None:
        self.client.portal.call(revoke_key, self.database, name)  # type: ignore[union-attr]

    def run(self, fn: Any, *args: Any) -> Any:
        return self.client.portal.call(fn, self.database, *args)  # type: ignore[union-attr]


@pytest.fixture(params=["sqlite", "postgresql"])
def gql(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GQL]:
    for url in database_urls(request.param, tmp_path):
        app = build_app(url)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield GQL(client, app.state.database)


@pytest.fixture
def gql_sqlite(tmp_path: Path) -> Iterator[GQL]:
    for url in database_urls("sqlite", tmp_path):
        app = build_app(url)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield GQL(client, app.state.database)
