"""Reading model files: the GGUF header and metadata, and the one check of whether an engine can
load a file.

Only the header and the key/value metadata are read (no tensor data, no native library), so the
model list and the start-up checks stay cheap. Imports nothing of ours but `errors`.
"""

from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from chatbot_cli.errors import ConfigError

GGUF_MAGIC = b"GGUF"
# Pre-GGUF llama.cpp files ('ggml', 'ggmf', 'ggjt' magics stored as little-endian uint32).
LEGACY_GGML_MAGICS = frozenset({b"lmgg", b"fmgg", b"tjgg"})

_SCALARS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
    10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9


# ggml tensors have at most 4 dimensions; a table claiming more is a damaged file.
MAX_DIMS = 8


def read_header(path: Path) -> tuple[bytes, int]:
    """The 4-byte magic and the version number (bytes 4-7, little-endian)."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if len(head) < 8:
        return head[:4], 0
    return head[:4], int.from_bytes(head[4:8], "little")


def template_handles_tools(meta: dict[str, Any]) -> bool:
    """True when the GGUF's chat template reads a `tools` variable (Jinja templates of models
    trained for tool calls do; SmolLM2's does not)."""
    template = meta.get("tokenizer.chat_template")
    return isinstance(template, str) and re.search(r"\btools\b", template) is not None


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
    """The context length the model was trained with, if its metadata says."""
    arch = meta.get("general.architecture")
    value = meta.get(f"{arch}.context_length") if isinstance(arch, str) else None
    return int(value) if isinstance(value, int) and value > 0 else None


# --- What an engine can load ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loadable:
    """The files one engine can load, and how to say no: `check_model_file` applies it.
    Messages are formatted with `path` (and `version`, `arch`)."""

    versions: range
    legacy_ggml: bool  # pre-GGUF files are accepted as they are
    architecture: str | None  # the one architecture accepted; None: any that is named
    not_a_model: str
    legacy_refused: str
    wrong_version: str
    wrong_architecture: str


LLAMACPP = Loadable(
    versions=range(2, 2**32),
    legacy_ggml=False,
    architecture=None,
    not_a_model="{path} is not a GGUF model file",
    legacy_refused=(
        "{path} is a legacy GGML file; the llama.cpp engine needs GGUF "
        "(use --engine ctransformers or convert the model)"
    ),
    wrong_version="{path} is GGUF version {version}; llama.cpp needs version 2 or later",
    wrong_architecture="{path} is not a usable GGUF model: it names no architecture",
)

# ctransformers crashes the whole process on modern GGUF files: they must never reach it.
CTRANSFORMERS = Loadable(
    versions=range(1, 3),
    legacy_ggml=True,
    architecture="llama",
    not_a_model="{path} is not a GGUF or GGML model file",
    legacy_refused="",
    wrong_version=(
        "{path} is GGUF version {version}; the ctransformers engine only runs GGUF v1/v2 "
        "or legacy GGML llama models. Use the default llamacpp engine for this file."
    ),
    wrong_architecture=(
        "{path} is a '{arch}' model; the ctransformers engine only runs llama models"
    ),
)


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A model file an engine can load: a legacy GGML file has no version and no metadata."""

    path: Path
    legacy: bool
    version: int
    meta: dict[str, Any]


def check_model_file(path: Path, engine: Loadable) -> ModelFile:
    """The file's header and metadata if `engine` can load it, else ConfigError naming what is
    wrong. The version is checked before the metadata is parsed, and nothing else is read."""
    try:
        magic, version = read_header(path)
    except OSError as exc:
        raise ConfigError(f"Cannot read model file {path}: {exc.strerror or exc}") from exc
    if magic in LEGACY_GGML_MAGICS:
        if not engine.legacy_ggml:
            raise ConfigError(engine.legacy_refused.format(path=path))
        return ModelFile(path, legacy=True, version=0, meta={})
    if magic != GGUF_MAGIC:
        raise ConfigError(engine.not_a_model.format(path=path))
    if version not in engine.versions:
        raise ConfigError(engine.wrong_version.format(path=path, version=version))
    try:
        meta = read_gguf_metadata(path)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{path} is not a valid GGUF model file: {exc}") from exc
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or engine.architecture not in (None, arch):
        raise ConfigError(engine.wrong_architecture.format(path=path, arch=arch))
    return ModelFile(path, legacy=False, version=version, meta=meta)


def check_gguf(path: Path) -> dict[str, Any]:
    """Metadata of a GGUF file llama.cpp can load, or ConfigError naming what is wrong: what a
    downloaded or listed model must pass before it is kept or served."""
    return check_model_file(path, LLAMACPP).meta


def tensor_weights(path: Path) -> int | None:
    """The weights one GGUF file holds: its tensor table, each tensor's dimensions multiplied and
    summed, as llama.cpp counts them; None when the table cannot be read. The table follows
    the metadata, so the metadata is walked (not kept) first; no tensor data is read."""
    try:
        with path.open("rb") as fh:
            if fh.read(4) != GGUF_MAGIC:
                return None
            count = "<I" if _unpack(fh, "<I") == 1 else "<Q"  # v1: 32-bit counts and dimensions
            n_tensors, n_kv = _unpack(fh, count), _unpack(fh, count)
            for _ in range(n_kv):
                fh.seek(_unpack(fh, count), 1)  # the key
                vtype = _unpack(fh, "<I")
                if vtype == _ARRAY:
                    item_type, length = _unpack(fh, "<I"), _unpack(fh, count)
                    _skip_array(fh, item_type, length, count)
                else:
                    _read_value(fh, vtype, count)
            total = 0
            for _ in range(n_tensors):
                fh.seek(_unpack(fh, count), 1)  # the name
                n_dims = _unpack(fh, "<I")
                if n_dims > MAX_DIMS:
                    return None
                total += math.prod(_unpack(fh, count) for _ in range(n_dims))
                fh.seek(4 + 8, 1)  # the tensor's type and data offset
            # Seeking past the end raises nothing: a table cut short is caught here.
            return total if fh.tell() <= os.fstat(fh.fileno()).st_size else None
    except (OSError, ValueError, struct.error):
        return None
