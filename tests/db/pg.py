"""Database URLs for the parametrised db tests: a fresh SQLite file, and a fresh PostgreSQL
database per test when a server answers on 127.0.0.1:5432 (skipped otherwise)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_DSN = os.environ.get("CHATBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_available() -> bool:
    try:
        asyncio.run(_admin("SELECT 1"))
        return True
    except Exception:
        return False


_PG: bool | None = None


def pg_available() -> bool:
    global _PG
    if _PG is None:
        _PG = _pg_available()
    return _PG


def database_urls(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'chatbot.db'}"
        return
    if not pg_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no PostgreSQL server on 127.0.0.1:5432 (CI=true: this variant must run)")
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    name = f"chatbot_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        base = PG_ADMIN_DSN.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
