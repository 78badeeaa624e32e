"""The OpenAI-compatible routes: parse → serving / engine → shape. Logic lives in serving.py."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from chatbot_cli.engine.base import ModelInfo
from chatbot_cli.engine.registry import find_model
from chatbot_cli.errors import ModelNotFound
from chatbot_cli.server.deps import require_owner
from chatbot_cli.server.protocol import (
    MAX_MODEL_ID,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from chatbot_cli.server.serving import create_chat_completion, get_engine

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid request (`param` names the field)"},
    401: {"model": ErrorResponse, "description": "Missing or wrong API key"},
    404: {"model": ErrorResponse, "description": "Unknown model"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    503: {
        "model": ErrorResponse,
        "description": "All slots busy and the wait queue full; retry after `Retry-After` seconds",
    },
    # Also keeps FastAPI from documenting a 422 `detail` body, which this API never sends.
    "default": {"model": ErrorResponse, "description": "Any other error, same envelope"},
}


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its $defs inlined, to document the SSE chunk shape without
    touching the app's components."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.rsplit("/", 1)[1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


# One server-sent event of a stream (before OpenAPI 3.2's itemSchema, `schema` describes each
# event): its `data` is a chunk, an error envelope, or the final "[DONE]".
_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "anyOf": [
                {"const": "[DONE]"},
                {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {
                        "anyOf": [
                            _inline_schema(ChatCompletionChunk),
                            _inline_schema(ErrorResponse),
                        ]
                    },
                },
            ]
        }
    },
}


router = APIRouter(prefix="/v1", dependencies=[Depends(require_owner)], tags=["openai"])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="Create a chat completion",
    description="With `stream: true` the answer is a stream of server-sent events: each "
    "`data: {...}` line is a `ChatCompletionChunk` whose `delta.content` is always a string; the "
    "stream ends with `data:[DONE]`. An error after the stream started is sent as "
    '`data: {"error": {...}}` followed by `data:[DONE]`.',
    responses={
        200: {
            "description": "A completion, or (stream: true) server-sent events",
            "content": {"text/event-stream": {"schema": _EVENT_SCHEMA}},
        },
        **_ERRORS,
    },
)
async def chat_completions(request: Request, body: ChatCompletionRequest) -> Response:
    return await create_chat_completion(request, body)


def _card(info: ModelInfo, default_created: int) -> ModelCard:
    created = default_created
    if info.path:
        with contextlib.suppress(OSError):
            created = int(os.stat(info.path).st_mtime)
    return ModelCard(id=info.id, created=created, owned_by=info.owned_by)


def _started(request: Request) -> int:
    started = getattr(request.app.state, "started_at", None)
    if started is None:
        started = int(time.time())
        request.app.state.started_at = started
    return int(started)


@router.get(
    "/models",
    response_model=ModelList,
    summary="List the models this server serves",
    responses={401: _ERRORS[401]},
)
async def list_models(request: Request) -> ModelList:
    engine = getattr(request.app.state, "engine", None)
    infos = engine.models if engine is not None else []
    created = _started(request)
    return ModelList(data=[_card(m, created) for m in infos])


@router.get(
    "/models/{model:path}",
    response_model=ModelCard,
    summary="Describe one model",
    responses={401: _ERRORS[401], 404: _ERRORS[404], "default": _ERRORS["default"]},
)
async def retrieve_model(request: Request, model: str) -> ModelCard:
    if len(model) > MAX_MODEL_ID:
        # No served id is this long (chat requests cap `model` the same way); echoing a 20 KB
        # path back in the message would only help log flooding.
        raise ModelNotFound(f"The model '{model[:40]}...' does not exist.", param="model")
    info = find_model(model, get_engine(request).models)
    return _card(info, _started(request))
