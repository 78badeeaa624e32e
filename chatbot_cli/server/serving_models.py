"""`/v1/models` and `/api/ps` between the router and the engine (the role of vLLM's
serving_models): which models the server serves, and which of them are in memory now."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Protocol, runtime_checkable

from chatbot_cli.engine.base import PLAIN, Engine, ModelInfo
from chatbot_cli.engine.models import find_model
from chatbot_cli.errors import ModelNotFound
from chatbot_cli.server.protocol import MAX_MODEL_ID, ModelCard, ModelList
from chatbot_cli.server.protocol_ps import RunningModel, RunningModels


@runtime_checkable
class ModelHost(Protocol):
    """An engine that loads and unloads models (`engine.manager.ModelManager`)."""

    max_loaded: int
    ttl: float

    def status(self) -> list[dict[str, Any]]: ...


class OpenAIServingModels:
    """The model cards of one engine. Built once in the lifespan; `created` is the server's
    start time, used for models that have no file to date them by."""

    def __init__(self, engine: Engine, created: int | None = None, *, upstream: bool = False):
        self.engine = engine
        self.created = int(time.time()) if created is None else created
        self.upstream = upstream

    def _card(self, info: ModelInfo) -> ModelCard:
        created = self.created
        if info.path:
            with contextlib.suppress(OSError):
                created = int(os.stat(info.path).st_mtime)
        # Both engines that honour a JSON schema (llama.cpp) or pass tools on (an upstream) take
        # tools and response_format; the others refuse them. "tools" is listed only for a
        # model trained for them (a chat template that reads `tools`, or an upstream whose own
        # card lists them): it is what clients turn tools on by default for, and a small model
        # given tools it does not understand answers worse and slower.
        capabilities = []
        if info.structured != PLAIN:
            trained = info.tool_template
            capabilities = ["tools", "response_format"] if trained else ["response_format"]
        return ModelCard(
            id=info.id, created=created, owned_by=info.owned_by, capabilities=capabilities
        )

    def list_models(self) -> ModelList:
        return ModelList(data=[self._card(m) for m in self.engine.models])

    def retrieve_model(self, model: str) -> ModelCard:
        if len(model) > MAX_MODEL_ID:
            # No served id is this long (chat requests cap `model` the same way); echoing a
            # huge path back in the message would only help log flooding.
            raise ModelNotFound(f"The model '{model[:40]}...' does not exist.", param="model")
        return self._card(find_model(model, self.engine.models))

    def running_models(self) -> RunningModels:
        engine = self.engine
        if isinstance(engine, ModelHost):
            rows = [RunningModel(**row) for row in engine.status()]
            return RunningModels(
                data=rows, max_loaded_models=engine.max_loaded, model_ttl=engine.ttl
            )
        # A single-model engine holds its model from start to close; an upstream's models are
        # in another server's memory, so only their ids are known here.
        models = engine.models
        stats = engine.stats() if len(models) == 1 and not self.upstream else {}
        rows = [
            RunningModel(
                id=info.id,
                state="upstream" if self.upstream else "loaded",
                default=i == 0,
                size_bytes=info.size_bytes,
                memory_bytes=info.size_bytes,
                context_length=info.context_length,
                slots=stats.get("slots"),
                busy_slots=stats.get("busy_slots"),
                queue_depth=stats.get("queue_depth"),
            )
            for i, info in enumerate(models)
        ]
        return RunningModels(data=rows)
