"""The engine factory: which backend runs the configured engine, and whether it could.

The only module that imports the backends, each inside the branch that needs it, so building one
backend never imports another (nor its native library). Backends never import this module: what
they share lives in `base`, `gguf`, `models` and `scheduler`.
"""

from __future__ import annotations

import importlib.util
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
        from chatbot_cli.engine.llamacpp import LlamaCppEngine

        return LlamaCppEngine(settings, model_infos(settings)[0])
    if settings.engine == "openai":
        from chatbot_cli.engine.upstream import UpstreamEngine

        return UpstreamEngine.from_settings(settings)
    raise ConfigError(f"Unknown engine '{settings.engine}'")
