"""FastAPI dependencies: settings, engine, database and the authenticated owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from chatbot_cli.auth import hash_key, keys_equal, parse_authorization
from chatbot_cli.config import Settings
from chatbot_cli.errors import AuthenticationFailed

# Looks a key's SHA-256 hash up among the keys created with `chatbot keys create`; returns the
# owner name, or None when unknown or revoked.
KeyLookup = Callable[[str], Awaitable[str | None]]


class Authenticator:
    """Maps a presented key to its owner: the configured key is owner "default"; database keys
    (when a lookup is given) are owned by their names."""

    def __init__(self, default_key: str | None, lookup: KeyLookup | None = None) -> None:
        self._default_key = default_key
        self._lookup = lookup

    async def owner_for(self, header: str | None) -> str:
        key = parse_authorization(header)
        if self._default_key is not None and keys_equal(key, self._default_key):
            return "default"
        if self._lookup is not None:
            owner = await self._lookup(hash_key(key))
            if owner is not None:
                return owner
        raise AuthenticationFailed("Incorrect API key provided.", code="invalid_api_key")


async def require_owner(request: Request) -> str:
    settings: Settings = request.app.state.settings
    if settings.no_auth:
        owner = "default"
    else:
        authenticator: Authenticator = request.app.state.authenticator
        owner = await authenticator.owner_for(request.headers.get("authorization"))
    request.state.owner = owner
    return owner


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_engine(request: Request) -> Any:
    return request.app.state.engine


def get_database(request: Request) -> Any:
    return request.app.state.database


Owner = Annotated[str, Depends(require_owner)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
