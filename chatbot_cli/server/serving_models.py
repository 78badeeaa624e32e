"""`/v1/models` between the router and the engine (the role of vLLM's serving_models)."""

from __future__ import annotations

import contextlib
import os
import time

from chatbot_cli.engine.base import Engine, ModelInfo
from chatbot_cli.engine.models import find_model
from chatbot_cli.errors import ModelNotFound
from chatbot_cli.server.protocol import MAX_MODEL_ID, ModelCard, ModelList


class OpenAIServingModels:
    """The model cards of one engine. Built once in the lifespan; `created` is the server's
    start time, used for models that have no file to date them by."""

    def __init__(self, engine: Engine, created: int | None = None) -> None:
        self.engine = engine
        self.created = int(time.time()) if created is None else created

    def _card(self, info: ModelInfo) -> ModelCard:
        created = self.created
        if info.path:
            with contextlib.suppress(OSError):
                created = int(os.stat(info.path).st_mtime)
        return ModelCard(id=info.id, created=created, owned_by=info.owned_by)

    def list_models(self) -> ModelList:
        return ModelList(data=[self._card(m) for m in self.engine.models])

    def retrieve_model(self, model: str) -> ModelCard:
        if len(model) > MAX_MODEL_ID:
            # No served id is this long (chat requests cap `model` the same way); echoing a
            # huge path back in the message would only help log flooding.
            raise ModelNotFound(f"The model '{model[:40]}...' does not exist.", param="model")
        return self._card(find_model(model, self.engine.models))
