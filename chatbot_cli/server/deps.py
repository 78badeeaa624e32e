"""The one way a route reaches the server's parts: `Annotated[..., Depends(...)]` aliases.

The lifespan (`server/app.py`) builds every part once and puts it on `app.state`; these
dependencies only read it back. A route names what it needs (`serving: ServingChat`,
`database: DatabaseDep`, `owner: Owner`) and never touches `app.state` itself.

Every dependency is `async def`: FastAPI runs a plain `def` dependency in a worker thread, a
thread hop on every request for what is an attribute read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from chatbot_cli.auth import hash_key, keys_equal, parse_authorization
from chatbot_cli.config import Settings
from chatbot_cli.db.session import Database
from chatbot_cli.engine.base import Engine
from chatbot_cli.errors import AuthenticationFailed
from chatbot_cli.server.health import DatabaseCheck
from chatbot_cli.server.serving import OpenAIServingChat
from chatbot_cli.server.serving_models import OpenAIServingModels
from chatbot_cli.server.serving_stored import OpenAIServingStored

# Looks a key's SHA-256 hash up among the keys created with `chatbot keys create`; returns the
# owner name, or None when unknown or revoked.
KeyLookup = Callable[[str], Awaitable[str | None]]


class Authenticator:
    """Maps a presented key to its owner: the configured key is owner "default"; database keys
    (when a lookup is given) are owned by their names. With `no_auth` every caller is "default"."""

    def __init__(
        self, default_key: str | None, lookup: KeyLookup | None = None, *, no_auth: bool = False
    ) -> None:
        self._default_key = default_key
        self._lookup = lookup
        self._no_auth = no_auth

    async def owner_for(self, header: str | None) -> str:
        if self._no_auth:
            return "default"
        key = parse_authorization(header)
        if self._default_key is not None and keys_equal(key, self._default_key):
            return "default"
        if self._lookup is not None:
            owner = await self._lookup(hash_key(key))
            if owner is not None:
                return owner
        raise AuthenticationFailed("Incorrect API key provided.", code="invalid_api_key")


async def require_owner(request: Request) -> str:
    authenticator: Authenticator = request.app.state.authenticator
    owner = await authenticator.owner_for(request.headers.get("authorization"))
    # The access log (server/limits.py) names the owner from the request state.
    request.state.owner = owner
    return owner


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


async def get_database(request: Request) -> Database:
    return request.app.state.database  # type: ignore[no-any-return]


async def get_database_check(request: Request) -> DatabaseCheck:
    return request.app.state.database_check  # type: ignore[no-any-return]


async def get_serving_chat(request: Request) -> OpenAIServingChat:
    return request.app.state.openai_serving_chat  # type: ignore[no-any-return]


async def get_serving_models(request: Request) -> OpenAIServingModels:
    return request.app.state.openai_serving_models  # type: ignore[no-any-return]


async def get_serving_stored(request: Request) -> OpenAIServingStored:
    return request.app.state.openai_serving_stored  # type: ignore[no-any-return]


Owner = Annotated[str, Depends(require_owner)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
DatabaseDep = Annotated[Database, Depends(get_database)]
DatabaseCheckDep = Annotated[DatabaseCheck, Depends(get_database_check)]
ServingChat = Annotated[OpenAIServingChat, Depends(get_serving_chat)]
ServingModels = Annotated[OpenAIServingModels, Depends(get_serving_models)]
ServingStored = Annotated[OpenAIServingStored, Depends(get_serving_stored)]


async def graphql_context(database: DatabaseDep, owner: Owner) -> dict[str, Any]:
    """What resolvers get besides the request (`info.context["database"]`, `["owner"]`).
    `require_owner` also guards the whole /graphql router; FastAPI runs it once per request."""
    return {"database": database, "owner": owner}
