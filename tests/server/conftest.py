from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatbot_cli.db.session import Database


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
