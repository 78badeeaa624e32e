"""API keys made with `chatbot keys create`. Only the SHA-256 hash is stored; the key's name is the
owner of the todos made with it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatbot_cli.db.models import DEFAULT_OWNER, api_keys, utcnow
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest, NotFound

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
# last_used_at is a hint, not an audit log: refreshing it at most once a minute keeps
# authenticated requests off the writer queue.
LAST_USED_GRANULARITY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "name": self.name,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
        }


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidRequest(
            "Key name must be 1-64 characters: letters, digits and . _ @ -, "
            "starting with a letter or digit.",
            param="name",
        )
    if name == DEFAULT_OWNER:
        raise InvalidRequest(
            f"'{DEFAULT_OWNER}' is reserved for the key in the config file.", param="name"
        )
    return name


async def create_key(db: Database, name: str, key_hash: str) -> KeyRecord:
    """Store a key under `name`. A revoked name can be reused: the new key takes over that
    owner's todos (key rotation); an active one cannot."""
    check_name(name)
    now = utcnow()
    try:
        await _store_key(db, name, key_hash, now)
    except IntegrityError:
        # Another process created the same name between our check and our insert.
        raise InvalidRequest(f"A key named '{name}' already exists.", param="name") from None
    return KeyRecord(name=name, created_at=now, last_used_at=None, revoked_at=None)


async def _store_key(db: Database, name: str, key_hash: str, now: datetime) -> None:
    def store(conn: Connection) -> None:
        row = conn.execute(select(api_keys.c.revoked_at).where(api_keys.c.name == name)).first()
        if row is not None and row.revoked_at is None:
            raise InvalidRequest(
                f"A key named '{name}' already exists; revoke it first.", param="name"
            )
        values = {"key_hash": key_hash, "created_at": now, "last_used_at": None}
        if row is None:
            conn.execute(insert(api_keys).values(name=name, **values))
        else:
            conn.execute(
                update(api_keys).where(api_keys.c.name == name).values(revoked_at=None, **values)
            )

    await db.write(store)


async def list_keys(db: Database) -> list[KeyRecord]:
    stmt = select(
        api_keys.c.name, api_keys.c.created_at, api_keys.c.last_used_at, api_keys.c.revoked_at
    ).order_by(api_keys.c.name)
    rows = await db.read(lambda conn: conn.execute(stmt).all())
    return [KeyRecord(r.name, r.created_at, r.last_used_at, r.revoked_at) for r in rows]


async def revoke_key(db: Database, name: str) -> bool:
    """Revoke the key; False when it was already revoked. Unknown name → NotFound."""

    def revoke(conn: Connection) -> bool | None:
        result = conn.execute(
            update(api_keys)
            .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if result.rowcount:
            return True
        exists = conn.execute(select(api_keys.c.id).where(api_keys.c.name == name)).first()
        return False if exists is not None else None

    revoked = await db.write(revoke)
    if revoked is None:
        raise NotFound(f"No API key named '{name}'.")
    return revoked


async def key_exists(db: Database, name: str) -> None:
    """NotFound unless a key (revoked or not) has this name."""
    stmt = select(api_keys.c.id).where(api_keys.c.name == name)
    if await db.read(lambda conn: conn.execute(stmt).first()) is None:
        raise NotFound(f"No API key named '{name}'.")


async def lookup_owner(db: Database, key_hash: str) -> str | None:
    """Owner name for an unrevoked key's hash, or None. Read from the database on every call,
    so a revocation (even by another process) applies to the very next request."""
    stmt = select(api_keys.c.id, api_keys.c.name, api_keys.c.last_used_at).where(
        api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
    )
    row = await db.read(lambda conn: conn.execute(stmt).first())
    if row is None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY:
        touch = update(api_keys).where(api_keys.c.id == row.id).values(last_used_at=now)
        await db.write(lambda conn: conn.execute(touch))
    return str(row.name)
