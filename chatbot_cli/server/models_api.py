"""`GET /api/ps`: which models are in memory now, in the spirit of Ollama's route of that name
(our shape: OpenAI-style `{"object": "list", "data": [...]}`). One line, into the serving object
the lifespan built, reached through the `deps` alias."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from chatbot_cli.server.deps import ServingModels, require_owner
from chatbot_cli.server.protocol import ErrorResponse
from chatbot_cli.server.protocol_ps import RunningModels

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or wrong API key"},
}

router = APIRouter(prefix="/api", dependencies=[Depends(require_owner)], tags=["models"])


@router.get(
    "/ps",
    response_model=RunningModels,
    summary="Models loaded (or loading) now",
    description="Each model in memory with its estimated memory, slots in use and when it "
    "will be unloaded if idle (`model_ttl`). Models the server lists on /v1/models but has not "
    "loaded are not here: a request for one loads it.",
    responses=_ERRORS,
)
async def running_models(serving: ServingModels) -> RunningModels:
    return serving.running_models()
