"""App factory and lifespan. Importing this module does no heavy work: the database opens, the
migrations run and the model loads in the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from chatbot_cli import __version__
from chatbot_cli.config import Settings, load_settings
from chatbot_cli.db.keys import lookup_owner
from chatbot_cli.db.session import Database
from chatbot_cli.engine.base import Engine
from chatbot_cli.engine.registry import build_engine
from chatbot_cli.server.deps import (
    Authenticator,
    DatabaseCheckDep,
    EngineDep,
    graphql_context,
    require_owner,
)
from chatbot_cli.server.docs import install_docs
from chatbot_cli.server.errors import install_error_handlers
from chatbot_cli.server.health import DatabaseCheck
from chatbot_cli.server.limits import RequestContextMiddleware
from chatbot_cli.server.quota import RATELIMIT_HEADERS, Quota
from chatbot_cli.server.serving import OpenAIServingChat
from chatbot_cli.server.serving_models import OpenAIServingModels
from chatbot_cli.server.serving_stored import OpenAIServingStored
from chatbot_cli.server.store import CompletionStore

log = logging.getLogger("chatbot.server")

# Objects allocated between two young-generation collections (CPython's default is 700). A
# request allocates thousands of short-lived objects, and with many requests in flight a small
# young generation promotes many of them to the older ones just before they die, which then get
# collected again; under callgrind a larger threshold made each request cheaper. This value
# still keeps each young pass short (p99 latency); bench/ and the commit history hold the figures.
GC_YOUNG_THRESHOLD = 5_000


class HealthComponent(BaseModel):
    status: str
    detail: str | None = None


class Health(BaseModel):
    status: str
    version: str
    database: HealthComponent
    engine: HealthComponent


@asynccontextmanager
async def lifespan(
    app: FastAPI, *, engine: Engine | None = None, database: Database | None = None
) -> AsyncIterator[None]:
    """Builds every part a route reaches (`server/deps.py`) once, and closes them at the end.
    An engine or a database given to `create_app` replaces the one the settings describe, and is
    started and closed here just the same."""
    settings: Settings = app.state.settings
    if database is None:
        database = Database.from_settings(settings)
    await database.connect()
    await database.upgrade()
    app.state.database = database
    app.state.database_check = DatabaseCheck(database.url)
    app.state.authenticator = Authenticator(
        settings.api_key_value(),
        partial(lookup_owner, database),
        no_auth=settings.no_auth,
    )
    if engine is None:
        engine = build_engine(settings)
    app.state.engine = engine
    app.state.quota = quota = Quota.start(database)
    store = CompletionStore(database, app.state.metrics.registry)
    try:
        await engine.start()
        app.state.openai_serving_chat = OpenAIServingChat(
            engine, settings, app.state.metrics, quota=quota, store=store
        )
        app.state.openai_serving_stored = OpenAIServingStored(database)
        app.state.openai_serving_models = OpenAIServingModels(
            engine, upstream=settings.engine == "openai"
        )
        tune_gc()
        log.info("ready: models %s", ", ".join(m.id for m in engine.models) or "(none)")
        from chatbot_cli.server.mcp_http import mcp_running

        async with mcp_running(app):
            yield
    finally:
        await engine.close()
        await quota.aclose()  # the last usage batch, before the database closes
        await store.aclose()  # the answers already sent are stored before the database closes
        await database.dispose()
        app.state.database_check.close()


def tune_gc() -> None:
    """Everything allocated so far lives as long as the process: keep it out of the collector's
    full passes (they show up as request-latency spikes), and collect the young less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def create_app(
    settings: Settings, *, engine: Engine | None = None, database: Database | None = None
) -> FastAPI:
    """The whole app. `engine` and `database` replace the ones the settings describe (tests pass a
    scripted engine or a database of their own); the lifespan starts and closes them."""
    from chatbot_cli.graphql.schema import create_graphql_router
    from chatbot_cli.server.mcp_http import install_mcp
    from chatbot_cli.server.metrics import install_metrics
    from chatbot_cli.server.models_api import router as models_router
    from chatbot_cli.server.openai_api import router as openai_router
    from chatbot_cli.server.stored_api import router as stored_router
    from chatbot_cli.server.web import install_web

    app = FastAPI(
        title="chatbot",
        version=__version__,
        description="OpenAI-compatible chat completions on a local GGUF model, and todos over "
        "GraphQL. Every /v1 and /graphql request needs `Authorization: Bearer <key>`.",
        lifespan=partial(lifespan, engine=engine, database=database),
        docs_url=None,  # server/docs.py serves Swagger UI from the package instead of a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    install_docs(app)
    install_error_handlers(app)
    if settings.cors_origins:
        # Credentials (cookies) are never allowed: auth is a bearer header, and '*' with
        # credentials would let any site act as the user.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id", "retry-after", *RATELIMIT_HEADERS],
        )
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)

    app.include_router(openai_router)
    app.include_router(models_router)
    app.include_router(stored_router)
    app.include_router(
        create_graphql_router(graphql_context),
        dependencies=[Depends(require_owner)],
    )
    install_mcp(app)
    install_metrics(app)
    install_web(app)

    @app.get("/health", response_model=Health, tags=["health"], summary="Liveness and readiness")
    async def health(check: DatabaseCheckDep, engine: EngineDep) -> Any:
        # Its own thread and connection: a busy loop or pool does not make the database "down".
        db_ok = await check.ok()
        models = [m.id for m in engine.models]
        body = Health(
            status="ok" if db_ok else "degraded",
            version=__version__,
            database=HealthComponent(status="ok" if db_ok else "down"),
            engine=HealthComponent(status="ok", detail=", ".join(models) or None),
        )
        return JSONResponse(body.model_dump(), status_code=200 if db_ok else 503)

    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` and worker processes: settings from env and config file."""
    return create_app(load_settings())
