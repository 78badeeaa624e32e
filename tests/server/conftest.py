from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chatbot_cli.db.session import Database

# What Swagger UI's "Try it out" sends for POST /v1/chat/completions (the schema's example
# values): its model "string" names no model; with "default" the request must work as is.
SWAGGER_BODY: dict[str, Any] = {
    "model": "string",
    "messages": [{"role": "user", "content": "string"}],
    "max_tokens": 0,
    "temperature": 0.7,
    "top_p": 1,
    "n": 1,
    "stream": False,
}


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'chatbot.db'}"

    async def migrate() -> None:
        database = Database(url)
        await database.connect()
        await database.upgrade()
        await database.dispose()

    asyncio.run(migrate())
    return url


@pytest.fixture
def migrated_database(_migrated_sqlite: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Points the settings at one SQLite database migrated once per session, so the apps these
    tests build with `create_app` (for their engines, not their todos) open it with one query
    instead of migrating a fresh file each."""
    monkeypatch.setenv("CHATBOT_DATABASE_URL", _migrated_sqlite)
    return Path(_migrated_sqlite.removeprefix("sqlite:///"))
