"""Every model the llama.cpp server can serve, by id: the configured one first, then each model
`chatbot models pull` stored.

Read from disk only (the manifest and each file's GGUF header). The manifest is re-read when it
changes, checked at most once a `RECHECK_SECONDS`, so a model pulled or removed while the server
runs appears in or leaves `/v1/models` without a restart, and a request pays no file access.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot_cli.engine.base import GRAMMAR, ModelInfo
from chatbot_cli.engine.gguf import (
    LLAMACPP,
    check_model_file,
    template_handles_tools,
    trained_context,
)
from chatbot_cli.engine.models import EMBEDDED_ID, local_model, slot_context
from chatbot_cli.errors import ChatbotError, ConfigError
from chatbot_cli.models_store import MANIFEST, Store

if TYPE_CHECKING:
    from chatbot_cli.config import Settings

log = logging.getLogger("chatbot.engine")

RECHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A servable model and what an estimate of its memory needs (`kv_bytes_per_token`)."""

    info: ModelInfo
    kv_bytes_per_token: int


def kv_bytes_per_token(meta: dict[str, Any]) -> int:
    """KV-cache bytes one token of context takes, as this engine configures llama.cpp: 8-bit
    keys (34 bytes per block of 32), 16-bit values. 0 when the metadata does not say."""
    arch = meta.get("general.architecture")

    def get(key: str) -> int:
        value = meta.get(f"{arch}.{key}") if isinstance(arch, str) else None
        return value if isinstance(value, int) and value > 0 else 0

    layers, embd, heads = get("block_count"), get("embedding_length"), get("attention.head_count")
    if not (layers and embd and heads):
        return 0
    kv_heads = get("attention.head_count_kv") or heads
    k_dim = get("attention.key_length") or embd // heads
    v_dim = get("attention.value_length") or embd // heads
    k_bytes = kv_heads * k_dim * 34 // 32
    v_bytes = kv_heads * v_dim * 2
    return int(layers * (k_bytes + v_bytes))


class Catalog:
    """The servable models, default first. `entries()` is what a request sees; it never raises
    for a pulled model that cannot be read: that model is left out and logged once."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store = Store(settings.effective_models_dir)
        self._meta_cache: dict[tuple[str, str, int, int], CatalogEntry | None] = {}
        self._default = self._configured()
        self._entries: list[CatalogEntry] = []
        self._infos: list[ModelInfo] = []
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self.refresh(force=True)
        if not self._entries:
            raise ConfigError(
                "No model to serve: install the embedded model, pass --model PATH.gguf, or "
                "`chatbot models pull` one"
            )

    @property
    def default(self) -> CatalogEntry | None:
        """The model "default" names: `--model`'s, else the embedded one (None if missing)."""
        return self._default

    def _configured(self) -> CatalogEntry | None:
        """The model `--model` names (a pulled model's id, or a path), or the embedded one.
        A missing embedded model is not fatal while pulled models exist."""
        settings = self._settings
        model = settings.model
        if model and model != EMBEDDED_ID and not Path(model).expanduser().exists():
            try:
                record = self._store.get(model)
            except ChatbotError as exc:
                if not _looks_like_path(model):
                    pulled = ", ".join(e.id for e in self._store.entries()) or "none"
                    raise ConfigError(
                        f"--model {model[:64]} is neither a file nor a pulled model's id "
                        f"(pulled models: {pulled}; `chatbot models pull` adds one)"
                    ) from exc
            else:
                return self._entry(record.id, self._store.paths(record)[0], strict=True)
        try:
            info, file = local_model(settings)
        except ConfigError:
            if model:  # a named model that is missing is the user's error, not a fallback
                raise
            return None
        return CatalogEntry(info, kv_bytes_per_token(file.meta))

    def _entry(self, model_id: str, path: Path, *, strict: bool = False) -> CatalogEntry | None:
        """The entry for a file, its header read once per (id, file, mtime, size); None (and
        one log line) for a pulled file that cannot be served, ConfigError when `strict`."""
        try:
            st = path.stat()
        except OSError as exc:
            if strict:
                raise ConfigError(f"Model file not found: {path}") from exc
            return None
        key = (model_id, str(path), st.st_mtime_ns, st.st_size)
        if key in self._meta_cache and not strict:
            return self._meta_cache[key]
        try:
            file = check_model_file(path, LLAMACPP)
        except ConfigError as exc:
            if strict:
                raise
            log.warning("not serving %s: %s", model_id, exc.message)
            self._meta_cache[key] = None
            return None
        s = self._settings
        trained = trained_context(file.meta)
        context = slot_context(s, trained, s.parallel)
        info = ModelInfo(
            model_id,
            str(path),
            st.st_size,
            context,
            structured=GRAMMAR,
            tool_template=template_handles_tools(file.meta),
            trained_context=trained,
        )
        entry = CatalogEntry(info, kv_bytes_per_token(file.meta))
        self._meta_cache[key] = entry
        return entry

    def refresh(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < RECHECK_SECONDS:
            return
        self._checked = now
        try:
            st = os.stat(self._store.root / MANIFEST)
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp and not force:
            return
        self._stamp = stamp
        entries = [self._default] if self._default else []
        seen = {e.info.id for e in entries}
        try:
            pulled = self._store.entries()
        except ConfigError as exc:
            log.warning("%s", exc.message)
            pulled = []
        for record in pulled:
            if record.id in seen:
                continue
            with contextlib.suppress(ConfigError):  # an id the store itself would refuse
                found = self._entry(record.id, self._store.paths(record)[0])
                if found is not None:
                    entries.append(found)
                    seen.add(record.id)
        self._entries = entries
        self._infos = [e.info for e in entries]

    def entries(self) -> list[CatalogEntry]:
        self.refresh()
        return self._entries

    def infos(self) -> list[ModelInfo]:
        self.refresh()
        return self._infos

    def memory_per_token(self, model_id: str) -> int:
        for entry in self._entries:
            if entry.info.id == model_id:
                return entry.kv_bytes_per_token
        return 0


def _looks_like_path(model: str) -> bool:
    return "/" in model or os.sep in model or model.lower().endswith(".gguf")
