"""App factory and lifespan. Importing this module does no heavy work: the database opens, the
migrations run and the model loads in the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel

from chatbot_cli import __version__
from chatbot_cli.config import Settings, load_settings
from chatbot_cli.server.deps import Authenticator, require_owner
from chatbot_cli.server.errors import install_error_handlers
from chatbot_cli.server.limits import RequestContextMiddleware

log = logging.getLogger("chatbot.server")

# Objects allocated between two young-generation collections (CPython's default is 700). A
# request allocates thousands of short-lived objects, and with 16 requests in flight a small
# young generation promotes many of them to the older ones just before they die, which then get
# collected again. Callgrind, 800 in-process createTodo requests 16 at a time: GC was 181k
# instructions a request at 700; a request cost 82k fewer at 5,000 and 111k fewer at 20,000 (the
# `{ __typename }` floor: 14k and 8k fewer). 5,000 keeps each young pass short (p99 latency).
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
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from chatbot_cli.db.keys import lookup_owner
    from chatbot_cli.db.session import Database
    from chatbot_cli.engine.registry import build_engine

    settings: Settings = app.state.settings
    database = Database.from_settings(settings)
    await database.connect()
    await database.upgrade()
    app.state.database = database
    app.state.authenticator = Authenticator(
        settings.api_key_value(), lambda h: lookup_owner(database, h)
    )
    engine = build_engine(settings)
    app.state.engine = engine
    try:
        await engine.start()
        tune_gc()
        log.info("ready: models %s", ", ".join(m.id for m in engine.models) or "(none)")
        yield
    finally:
        await engine.close()
        await database.dispose()


def tune_gc() -> None:
    """Everything allocated so far lives as long as the process: keep it out of the collector's
    full passes (they show up as request-latency spikes), and collect the young less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def create_app(settings: Settings | None = None) -> FastAPI:
    from chatbot_cli.graphql.schema import create_graphql_router
    from chatbot_cli.server.metrics import install_metrics
    from chatbot_cli.server.openai_api import router as openai_router

    settings = settings or load_settings()
    app = FastAPI(
        title="chatbot",
        version=__version__,
        description="OpenAI-compatible chat completions on a local GGUF model, and todos over "
        "GraphQL. Every /v1 and /graphql request needs `Authorization: Bearer <key>`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
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
            expose_headers=["x-request-id", "retry-after"],
        )
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)

    app.include_router(openai_router)
    app.include_router(
        create_graphql_router(), prefix="/graphql", dependencies=[Depends(require_owner)]
    )
    install_metrics(app)

    @app.get("/health", response_model=Health, tags=["health"], summary="Liveness and readiness")
    async def health(request: Request) -> Any:
        database = getattr(request.app.state, "database", None)
        db_ok = bool(database is not None and await database.ping())
        engine = getattr(request.app.state, "engine", None)
        models = [m.id for m in engine.models] if engine is not None else []
        body = Health(
            status="ok" if db_ok else "degraded",
            version=__version__,
            database=HealthComponent(status="ok" if db_ok else "down"),
            engine=HealthComponent(
                status="ok" if engine is not None else "down", detail=", ".join(models) or None
            ),
        )
        from fastapi.responses import JSONResponse

        return JSONResponse(body.model_dump(), status_code=200 if db_ok else 503)

    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` and worker processes: settings from env and config file."""
    return create_app(load_settings())
