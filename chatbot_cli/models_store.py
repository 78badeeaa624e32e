"""The local model store: pulled GGUF files under `models_dir`, one manifest naming them.

Layout: `<models_dir>/manifest.json` plus one directory per model id. The manifest is the only
index: a directory it does not name is not a model (an interrupted pull leaves one behind, and
the next pull of the same reference resumes into it). Reading the store imports no engine and
no network library; GGUF metadata is read from the file header only.

Errors: ConfigError (a bad id, exit 2), NotFound (an unknown id, exit 5).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot_cli.errors import ChatbotError, ConfigError, NotFound

if TYPE_CHECKING:
    from chatbot_cli.config import Settings

MANIFEST = "manifest.json"
EMBEDDED_ID = "default"

_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,80}(:[a-z0-9][a-z0-9._-]{0,40})?")
# Quantisation names as llama.cpp spells them in file names (Q4_K_M, IQ2_XXS, Q8_0, F16, BF16...).
QUANT = re.compile(r"(?<![a-z0-9])(i?q\d(?:_[a-z0-9]+)*|bf16|f16|f32)(?![a-z0-9])", re.IGNORECASE)
SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


def check_id(model_id: str) -> str:
    """The id if it is safe as a directory name, else ConfigError: ids become paths."""
    if ".." in model_id or not _ID.fullmatch(model_id):
        shown = model_id if len(model_id) <= 64 else model_id[:64] + "..."
        raise ConfigError(
            f"Invalid model id '{shown}': use lower-case letters, digits, '.', '_', '-' and at "
            "most one ':' (no path separators, no '..')"
        )
    return model_id


def check_file_name(name: str) -> str:
    """A downloaded file name must stay inside its model directory."""
    parts = name.split("/")
    if not name or "\\" in name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ConfigError(f"Refusing file name '{name[:64]}': it leaves the model directory")
    return name


def quant_of(file_name: str) -> str | None:
    """The quantisation named in a file name (lower case), e.g. 'q4_k_m'."""
    stem = SPLIT.sub(".gguf", Path(file_name).name)
    found = QUANT.findall(stem.removesuffix(".gguf").removesuffix(".GGUF"))
    return found[-1].lower() if found else None


def derive_id(name: str, quant: str | None) -> str:
    """A short stable id from a repo or file name: 'Qwen2.5-0.5B-Instruct-GGUF' + 'Q4_K_M' ->
    'qwen2.5-0.5b-instruct:q4_k_m'."""
    base = SPLIT.sub("", Path(name).name)
    base = re.sub(r"\.gguf$", "", base, flags=re.IGNORECASE)
    if quant:
        base = re.sub(rf"[-._]?{re.escape(quant)}$", "", base, flags=re.IGNORECASE)
    base = re.sub(r"[-_.]gguf$", "", base, flags=re.IGNORECASE)
    base = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-._") or "model"
    return check_id(f"{base[:80]}:{quant.lower()}" if quant else base[:80])


@dataclass(frozen=True)
class Entry:
    """One manifest record. `files` are relative to the model's directory, first part first."""

    id: str
    source: str
    files: list[str]
    size: int
    sha256: dict[str, str] = field(default_factory=dict)
    pulled_at: str = ""


class Store:
    def __init__(self, root: Path) -> None:
        self.root = root

    def model_dir(self, model_id: str) -> Path:
        # ':' is not allowed in Windows file names.
        return self.root / check_id(model_id).replace(":", "--")

    @contextmanager
    def downloading(self, target: Path) -> Iterator[None]:
        """Around a pull into `target`: a failure leaves no empty model directory behind, and a
        full disk is one line naming the part file kept for the pull that resumes it (rather
        than a bare errno)."""
        try:
            yield
        except BaseException as exc:
            with suppress(OSError):
                target.rmdir()  # only an empty one
            if not isinstance(exc, OSError) or exc.errno != errno.ENOSPC:
                raise
            parts = sorted(target.rglob("*.part")) if target.is_dir() else []
            kept = f"the partial file {parts[0]} is kept" if parts else "nothing was kept"
            raise ChatbotError(
                f"No space left on the device holding {self.root}: {kept}; free some space "
                "and run the same pull again to resume it"
            ) from exc

    def entries(self) -> list[Entry]:
        path = self.root / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot read the model manifest {path}: {exc}") from exc
        return [Entry(**item) for item in data.get("models", [])]

    def get(self, model_id: str) -> Entry:
        check_id(model_id)
        for entry in self.entries():
            if entry.id == model_id:
                return entry
        known = ", ".join([EMBEDDED_ID, *(e.id for e in self.entries())])
        raise NotFound(f"No model '{model_id}'. Local models: {known}")

    def paths(self, entry: Entry) -> list[Path]:
        base = self.model_dir(entry.id)
        return [base / check_file_name(name) for name in entry.files]

    def add(self, entry: Entry) -> None:
        kept = [e for e in self.entries() if e.id != entry.id]
        self._write([*kept, entry])

    def remove(self, model_id: str) -> Entry:
        if model_id == EMBEDDED_ID:
            raise ConfigError(
                "The embedded model 'default' is part of the package: it cannot be removed"
            )
        entry = self.get(model_id)
        self._write([e for e in self.entries() if e.id != model_id])
        shutil.rmtree(self.model_dir(model_id), ignore_errors=True)
        return entry

    def _write(self, entries: list[Entry]) -> None:
        # Write then rename: a crash never leaves a half-written manifest.
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"models": [asdict(e) for e in entries]}, indent=2) + "\n")
        tmp.replace(self.root / MANIFEST)


def parameter_count(path: Path) -> int | None:
    """The weights a GGUF holds, summed over its tensor tables (each tensor's dimensions
    multiplied; every part of a split file), as llama.cpp counts them; None when a table cannot
    be read. Counted, not taken from `general.size_label`: that label is rounded, and files
    converted before it existed lack it."""
    found = SPLIT.search(path.name)
    parts = [path]
    if found:
        # Any part names them all: '-00002-of-00003.gguf' -> parts 1 to 3.
        head, total, ext = path.name[: found.start()], found.group(2), path.name[-5:]
        parts = [
            path.with_name(f"{head}-{i:05d}-of-{total}{ext}") for i in range(1, int(total) + 1)
        ]
    from chatbot_cli.engine.gguf import tensor_weights

    counts = [tensor_weights(part) for part in parts]
    return None if None in counts else sum(c for c in counts if c is not None)


def describe(model_id: str, path: Path, *, source: str, size: int | None = None) -> dict[str, Any]:
    """What `models show` prints for one model, from its GGUF header."""
    from chatbot_cli.engine.gguf import check_gguf, trained_context

    meta = check_gguf(path)
    arch = meta.get("general.architecture")
    return {
        "id": model_id,
        "source": source,
        "path": str(path),
        "size_bytes": size if size is not None else path.stat().st_size,
        "quantisation": quant_of(path.name),
        "architecture": arch,
        "context_length": trained_context(meta),
        "parameters": parameter_count(path),
        "metadata": meta,
    }


def show(store: Store, model_id: str) -> dict[str, Any]:
    if model_id == EMBEDDED_ID:
        from chatbot_cli.engine.models import embedded_model_path

        return describe(EMBEDDED_ID, embedded_model_path(), source="embedded")
    entry = store.get(model_id)
    info = describe(entry.id, store.paths(entry)[0], source=entry.source, size=entry.size)
    return {**info, "files": entry.files, "sha256": entry.sha256, "pulled_at": entry.pulled_at}


def pulled_rows(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """`models list` rows for pulled models: the context each was trained with, and the one a
    server slot would give a conversation with these settings."""
    from chatbot_cli.engine.gguf import check_gguf, template_handles_tools, trained_context
    from chatbot_cli.engine.models import slot_context

    rows = []
    for entry in store.entries():
        path = store.paths(entry)[0]
        row: dict[str, Any] = {
            "id": entry.id,
            "path": str(path),
            "size_bytes": entry.size,
            "quantisation": quant_of(path.name),
            "parameters": None,
            "context_length": None,
            "served_context_length": None,
            "tools": None,
            "engine": settings.engine,
        }
        # One damaged or hand-deleted model must not hide the others: its row says why.
        try:
            meta = check_gguf(path)
        except ConfigError as exc:
            row["error"] = exc.message
        else:
            trained = trained_context(meta)
            row["context_length"] = trained
            row["served_context_length"] = slot_context(settings, trained, settings.parallel)
            row["tools"] = template_handles_tools(meta)
            row["parameters"] = parameter_count(path)
        rows.append(row)
    return rows
