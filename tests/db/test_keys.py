from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from chatbot_cli.auth import hash_key
from chatbot_cli.db import keys
from chatbot_cli.db.models import api_keys
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest, NotFound
from tests.db.helpers import run


def test_create_lookup_revoke(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        record = await keys.create_key(db, "alice", hash_key("k1"))
        assert record.name == "alice" and record.revoked_at is None
        assert await keys.lookup_owner(db, hash_key("k1")) == "alice"
        assert await keys.lookup_owner(db, hash_key("other")) is None
        listed = await keys.list_keys(db)
        assert [k.name for k in listed] == ["alice"] and listed[0].last_used_at is not None
        assert await keys.revoke_key(db, "alice") is True
        assert await keys.lookup_owner(db, hash_key("k1")) is None
        assert await keys.revoke_key(db, "alice") is False
        with pytest.raises(NotFound):
            await keys.revoke_key(db, "nobody")

    run(db_url, scenario)


def test_only_the_hash_is_stored(db_url: str) -> None:
    async def scenario(db: Database) -> list[tuple[str, ...]]:
        await keys.create_key(db, "alice", hash_key("sk-secret-value"))
        rows = await db.read(lambda conn: conn.execute(api_keys.select()).all())
        return [tuple(str(v) for v in row) for row in rows]

    rows = run(db_url, scenario)
    assert not any("sk-secret-value" in value for row in rows for value in row)
    assert hash_key("sk-secret-value") in rows[0]


def test_names_unique_reserved_and_rotatable(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        await keys.create_key(db, "bob", hash_key("k1"))
        with pytest.raises(InvalidRequest, match="already exists"):
            await keys.create_key(db, "bob", hash_key("k2"))
        for bad in ("default", "", "with space", "x" * 65, "-dash", "a\x00"):
            with pytest.raises(InvalidRequest):
                await keys.create_key(db, bad, hash_key("k3"))
        # A revoked name can be given a new key: rotation keeps the owner's todos.
        await keys.revoke_key(db, "bob")
        await keys.create_key(db, "bob", hash_key("k2"))
        assert await keys.lookup_owner(db, hash_key("k1")) is None
        assert await keys.lookup_owner(db, hash_key("k2")) == "bob"

    run(db_url, scenario)


def test_last_used_is_refreshed_at_most_once_a_minute(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        await keys.create_key(db, "carol", hash_key("k"))
        await keys.lookup_owner(db, hash_key("k"))
        first = (await keys.list_keys(db))[0].last_used_at
        await keys.lookup_owner(db, hash_key("k"))
        assert (await keys.list_keys(db))[0].last_used_at == first
        assert first is not None
        backdate = update(api_keys).values(last_used_at=first - timedelta(minutes=5))
        await db.write(lambda conn: conn.execute(backdate))
        await keys.lookup_owner(db, hash_key("k"))
        later = (await keys.list_keys(db))[0].last_used_at
        assert later is not None and later > first - timedelta(minutes=5)

    run(db_url, scenario)
