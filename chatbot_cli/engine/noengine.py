"""The backend for engine = "none": the server runs for todos only; every chat request is a 404."""

from __future__ import annotations

from collections.abc import AsyncIterator

from chatbot_cli.engine.base import Chunk, GenerationRequest, ModelInfo
from chatbot_cli.engine.models import find_model


class NoEngine:
    @property
    def models(self) -> list[ModelInfo]:
        return []

    async def start(self) -> None:
        return None

    async def stream(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        find_model(model, [])
        yield Chunk()  # pragma: no cover - find_model always raises

    async def close(self) -> None:
        return None

    def stats(self) -> dict[str, int]:
        return {"busy_slots": 0, "queue_depth": 0, "slots": 0}
