"""The OpenAI-compatible routes: one line each, into the serving objects the lifespan built
(serving.py, serving_models.py), reached through the `deps` aliases."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from chatbot_cli.server.deps import Owner, ServingChat, ServingModels, require_owner
from chatbot_cli.server.protocol import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from chatbot_cli.server.quota import ratelimit_status

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid request (`param` names the field)"},
    401: {"model": ErrorResponse, "description": "Missing or wrong API key"},
    404: {"model": ErrorResponse, "description": "Unknown model"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    429: {
        "model": ErrorResponse,
        "description": "Over one of the key's limits (`code` names it); retry after "
        "`Retry-After` seconds",
    },
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


router = APIRouter(
    prefix="/v1", dependencies=[Depends(require_owner), Depends(ratelimit_status)], tags=["openai"]
)


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
async def chat_completions(
    body: ChatCompletionRequest, serving: ServingChat, raw_request: Request, owner: Owner
) -> Response:
    return await serving.create_chat_completion(body, raw_request, owner)


@router.get(
    "/models",
    response_model=ModelList,
    summary="List the models this server serves",
    responses={401: _ERRORS[401]},
)
async def list_models(serving: ServingModels) -> ModelList:
    return serving.list_models()


@router.get(
    "/models/{model:path}",
    response_model=ModelCard,
    summary="Describe one model",
    responses={401: _ERRORS[401], 404: _ERRORS[404], "default": _ERRORS["default"]},
)
async def retrieve_model(model: str, serving: ServingModels) -> ModelCard:
    return serving.retrieve_model(model)
