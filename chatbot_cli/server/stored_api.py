"""OpenAI's stored chat completions routes: one line each, into `serving_stored`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from chatbot_cli.server.deps import Owner, ServingStored, require_owner
from chatbot_cli.server.protocol import ErrorResponse
from chatbot_cli.server.protocol_stored import (
    StoredCompletion,
    StoredCompletionDeleted,
    StoredCompletionList,
    StoredCompletionUpdate,
    StoredMessageList,
)
from chatbot_cli.server.quota import ratelimit_status
from chatbot_cli.server.serving_stored import Page

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid request (`param` names the field)"},
    401: {"model": ErrorResponse, "description": "Missing or wrong API key"},
    404: {"model": ErrorResponse, "description": "No stored completion of yours has this id"},
    "default": {"model": ErrorResponse, "description": "Any other error, same envelope"},
}

router = APIRouter(
    prefix="/v1/chat/completions",
    # A limited key's x-ratelimit headers go on every /v1 response (issue 17), these included.
    dependencies=[Depends(require_owner), Depends(ratelimit_status)],
    tags=["stored completions"],
    responses=_ERRORS,
)

After = Annotated[
    str | None, Query(min_length=1, max_length=64, description="The last id of the previous page.")
]
Limit = Annotated[int | None, Query(ge=1, le=100, description="Page size (default 20).")]
Order = Annotated[
    Literal["asc", "desc"] | None, Query(description="asc (default, oldest first) or desc.")
]


async def _page(after: After = None, limit: Limit = None, order: Order = None) -> Page:
    return Page(after=after, limit=limit, order=order)


async def _model(
    model: Annotated[str | None, Query(description="Only this model.")] = None,
) -> str | None:
    return model


# Both lists take the same three query parameters; a route names them once, as `page: Paging`.
Paging = Annotated[Page, Depends(_page)]
# A dependency, not a plain parameter, only so that /docs keeps listing it after the paging ones:
# FastAPI lists a route's own query parameters before those of its dependencies.
ModelFilter = Annotated[str | None, Depends(_model)]


@router.get(
    "",
    response_model=StoredCompletionList,
    summary="List your stored chat completions",
    description="Filters: `model`, and `metadata[key]=value` (every pair must match).",
)
async def list_stored(
    serving: ServingStored,
    owner: Owner,
    request: Request,
    page: Paging,
    model: ModelFilter,
) -> StoredCompletionList:
    return await serving.list(owner, request.query_params, page, model=model)


@router.get("/{completion_id}", response_model=StoredCompletion, summary="Get a stored completion")
async def retrieve_stored(
    completion_id: str, serving: ServingStored, owner: Owner
) -> StoredCompletion:
    return await serving.retrieve(owner, completion_id)


@router.post(
    "/{completion_id}",
    response_model=StoredCompletion,
    summary="Update a stored completion's metadata",
)
async def update_stored(
    completion_id: str, body: StoredCompletionUpdate, serving: ServingStored, owner: Owner
) -> StoredCompletion:
    return await serving.update(owner, completion_id, body.metadata)


@router.delete(
    "/{completion_id}", response_model=StoredCompletionDeleted, summary="Delete a stored completion"
)
async def delete_stored(
    completion_id: str, serving: ServingStored, owner: Owner
) -> StoredCompletionDeleted:
    return await serving.delete(owner, completion_id)


@router.get(
    "/{completion_id}/messages",
    response_model=StoredMessageList,
    summary="The input messages of a stored completion",
)
async def stored_messages(
    completion_id: str, serving: ServingStored, owner: Owner, page: Paging
) -> StoredMessageList:
    return await serving.messages(owner, completion_id, page)
