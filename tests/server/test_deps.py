"""The one way a route reaches the server's parts: what `create_app` is given (or builds) is what
the lifespan puts behind the `deps` aliases, started before the first request and closed after."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from chatbot_cli.config import load_settings
from chatbot_cli.db.session import Database
from chatbot_cli.server.app import create_app
from chatbot_cli.server.deps import (
    DatabaseDep,
    EngineDep,
    Owner,
    ServingChat,
    ServingModels,
    SettingsDep,
)
from chatbot_cli.server.serving import OpenAIServingChat
from chatbot_cli.server.serving_models import OpenAIServingModels
from tests.server.test_openai_serving import KEY, ScriptedEngine, client

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("migrated_database")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class LifecycleEngine(ScriptedEngine):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def close(self) -> None:
        self.events.append("close")


def with_probe(app: FastAPI) -> dict[str, Any]:
    """Adds a route that takes every alias and records what it got."""
    seen: dict[str, Any] = {}

    @app.get("/probe")
    async def probe(
        settings: SettingsDep,
        engine: EngineDep,
        database: DatabaseDep,
        chat: ServingChat,
        models: ServingModels,
        owner: Owner,
    ) -> None:
        seen.update(settings=settings, engine=engine, database=database, chat=chat, models=models)
        seen["owner"] = owner

    return seen


async def test_injected_engine_and_database_are_what_routes_reach(migrated_database: Any) -> None:
    settings = load_settings(api_key=KEY)
    engine = LifecycleEngine()
    database = Database(f"sqlite:///{migrated_database}")
    app = create_app(settings, engine=engine, database=database)
    seen = with_probe(app)
    async with client(app) as c:
        assert engine.events == ["start"]
        assert (await c.get("/probe")).status_code == 200
        health = (await c.get("/health")).json()
        listing = (await c.get("/v1/models")).json()
    assert engine.events == ["start", "close"]
    assert seen["settings"] is settings
    assert seen["engine"] is engine and seen["database"] is database
    assert seen["owner"] == "default"
    chat, models = seen["chat"], seen["models"]
    assert isinstance(chat, OpenAIServingChat) and chat.engine is engine
    assert chat.settings is settings and chat.metrics is app.state.metrics
    assert isinstance(models, OpenAIServingModels) and models.engine is engine
    assert health["engine"] == {"status": "ok", "detail": "tiny"}
    assert [m["id"] for m in listing["data"]] == ["tiny"]
    # The app owned the database it was given: closed with the app.
    assert not await database.ping()


async def test_serving_objects_are_built_once_per_app() -> None:
    app = create_app(load_settings(api_key=KEY), engine=ScriptedEngine())
    seen = with_probe(app)
    got = []
    async with client(app) as c:
        for _ in range(2):
            assert (await c.get("/probe")).status_code == 200
            got.append((seen["chat"], seen["models"]))
    assert got[0][0] is got[1][0] and got[0][1] is got[1][1]


async def test_no_auth_makes_every_caller_the_default_owner() -> None:
    app = create_app(load_settings(api_key=KEY, no_auth=True), engine=ScriptedEngine())
    seen = with_probe(app)
    async with client(app) as c:
        r = await c.get("/probe", headers={"Authorization": "Bearer not-the-key"})
    assert r.status_code == 200 and seen["owner"] == "default"


async def test_without_no_auth_a_wrong_key_is_refused() -> None:
    app = create_app(load_settings(api_key=KEY), engine=ScriptedEngine())
    seen = with_probe(app)
    async with client(app) as c:
        r = await c.get("/probe", headers={"Authorization": "Bearer not-the-key"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert seen == {}


def test_models_are_listed_from_the_engine_with_the_start_time() -> None:
    serving = OpenAIServingModels(ScriptedEngine(), created=123)
    (card,) = serving.list_models().data
    assert (card.id, card.created) == ("tiny", 123)
    assert serving.retrieve_model("tiny") == card
