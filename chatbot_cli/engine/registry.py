"""The engine factory: which backend runs the configured engine, and whether it could.

The only module that imports the backends, each inside the branch that needs it, so building one
backend never imports another (nor its native library). Backends never import this module: what
they share lives in `base`, `gguf`, `models` and `scheduler`. The llama.cpp backend runs behind
`manager.ModelManager`, which serves every model `catalog` finds, one backend per loaded model.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

from chatbot_cli.engine.base import Engine, ModelInfo
from chatbot_cli.engine.models import model_infos
from chatbot_cli.errors import ConfigError

if TYPE_CHECKING:
    from chatbot_cli.config import Settings


def check_models(settings: Settings) -> list[ModelInfo]:
    """Fail fast, before the server starts, on a configuration no engine could serve."""
    if settings.engine == "openai":
        if not settings.upstream_url:
            raise ConfigError("Engine 'openai' needs an upstream server: pass --upstream-url URL")
        return []
    if settings.engine == "ctransformers" and importlib.util.find_spec("ctransformers") is None:
        from chatbot_cli.engine.ctransformers import INSTALL_HINT

        raise ConfigError(f"The ctransformers engine is not installed: run `{INSTALL_HINT}`")
    if settings.engine == "llamacpp":
        from chatbot_cli.engine.catalog import Catalog

        return Catalog(settings).infos()
    return model_infos(settings)


def build_engine(settings: Settings) -> Engine:
    """The backend for these settings. Checks the model file (ConfigError) but loads nothing:
    `await engine.start()` does the slow part."""
    if settings.engine == "none":
        from chatbot_cli.engine.noengine import NoEngine

        return NoEngine()
    if settings.engine == "ctransformers":
        from chatbot_cli.engine.ctransformers import CTransformersEngine

        return CTransformersEngine(settings)
    if settings.engine == "llamacpp":
        from chatbot_cli.engine.catalog import Catalog
        from chatbot_cli.engine.manager import ModelManager

        # Every local model by id, each its own llama.cpp server, loaded when first asked for.
        return ModelManager(
            Catalog(settings),
            local_first(settings),
            max_loaded=settings.max_loaded_models,
            ttl=settings.model_ttl,
            load_timeout=settings.model_load_timeout,
        )
    if settings.engine == "openai":
        from chatbot_cli.engine.upstream import UpstreamEngine

        return UpstreamEngine.from_settings(settings)
    raise ConfigError(f"Unknown engine '{settings.engine}'")


def local_first(settings: Settings) -> Callable[[ModelInfo], Engine]:
    """The manager's factory for llama.cpp models: a model loads in this process unless another
    one is loaded here, and then in a worker process of its own (engine/worker.py says why)."""
    from chatbot_cli.engine.llamacpp import LlamaCppEngine
    from chatbot_cli.engine.worker import WorkerEngine

    local: list[LlamaCppEngine] = []

    def make(info: ModelInfo) -> Engine:
        if any(engine.running for engine in local):
            return WorkerEngine(settings, info)
        local[:] = [LlamaCppEngine(settings, info)]
        return local[0]

    return make
