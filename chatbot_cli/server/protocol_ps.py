"""Wire models of `GET /api/ps` (server/models_api.py): which models are in memory. Ollama's
route, not OpenAI's, so apart from `protocol.py`'s OpenAI shapes; the list is OpenAI-style
(`{"object": "list", "data": [...]}`) like /v1/models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class RunningModel(BaseModel):
    """One model in memory (or loading), as `GET /api/ps` shows it."""

    id: str
    state: Literal["loading", "loaded", "upstream"]
    default: bool = Field(description="Requests for the model 'default' get this one")
    size_bytes: int | None = Field(None, description="The model file's size")
    memory_bytes: int | None = Field(
        None, description="Estimated memory: the weights plus the KV cache of every slot"
    )
    context_length: int | None = Field(None, description="Tokens one conversation may use")
    slots: int | None = Field(None, description="Generation slots (requests run at once)")
    busy_slots: int | None = None
    queue_depth: int | None = Field(None, description="Requests waiting for a slot")
    active_requests: int | None = Field(None, description="Requests using or awaiting it")
    loaded_at: float | None = Field(None, description="Unix time the load finished")
    last_used_at: float | None = Field(None, description="Unix time a request last ended")
    expires_at: float | None = Field(
        None, description="Unix time it will be unloaded if still idle (model_ttl); null: never"
    )


class RunningModels(BaseModel):
    object: Literal["list"] = "list"
    data: list[RunningModel]
    max_loaded_models: int | None = Field(None, description="null: not limited by this server")
    model_ttl: float | None = Field(None, description="Idle seconds before unloading; 0: never")
