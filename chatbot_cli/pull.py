"""`chatbot models pull REF`: fetch GGUF files from a model hub or a URL into the model store.

Hub references go through huggingface_hub only, so HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE, proxy
variables and its resumable `.incomplete` files all apply; a plain URL is fetched with httpx,
resuming a `.part` file with a Range request. Every file is checked after download (GGUF header,
and the sha256 the hub publishes for LFS files); a bad file is deleted before the error is raised.

Errors: ConfigError (a bad reference or choice, exit 2), NotFound (unknown repo or file, exit 5),
AuthenticationFailed (gated or private repo, exit 4), Unreachable (no connection or offline
mode, exit 3), ChatbotError (a download or check failure, exit 1).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot_cli._download import FileHasher, Interrupted, receive, sha256_file
from chatbot_cli.errors import (
    AuthenticationFailed,
    ChatbotError,
    ConfigError,
    NotFound,
    Unreachable,
)
from chatbot_cli.models_store import (
    EMBEDDED_ID,
    SPLIT,
    Entry,
    Store,
    check_file_name,
    check_id,
    derive_id,
    quant_of,
)

DEFAULT_QUANT = "q4_k_m"
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")

# Progress callback: (file name, total bytes or None, bytes already present) -> advance(n).
Progress = Callable[[str, int | None, int], Callable[[int], None]]


@dataclass(frozen=True)
class Ref:
    repo: str | None = None
    quant: str | None = None
    file: str | None = None
    url: str | None = None


def parse_ref(ref: str) -> Ref:
    """ORG/REPO, ORG/REPO:QUANT, ORG/REPO/FILE.gguf or an http(s) URL of a .gguf file."""
    if ref.startswith(("http://", "https://")):
        name = ref.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if not name.lower().endswith(".gguf"):
            raise ConfigError(f"A model URL must name a .gguf file: {ref[:120]}")
        check_file_name(name)
        return Ref(url=ref, file=name)
    quant = None
    if ":" in ref:
        ref, quant = ref.rsplit(":", 1)
        if not re.fullmatch(r"[A-Za-z0-9_]+", quant):
            raise ConfigError(f"Invalid quantisation '{quant[:40]}' (e.g. Q4_K_M)")
    parts = ref.split("/")
    repo = "/".join(parts[:2])
    if len(parts) < 2 or ".." in ref or not _REPO.fullmatch(repo):
        raise ConfigError(
            f"Invalid model reference '{ref[:120]}': use ORG/REPO, ORG/REPO:QUANT, "
            "ORG/REPO/FILE.gguf or an http(s) URL"
        )
    file = "/".join(parts[2:]) or None
    if file is not None:
        if quant or not file.lower().endswith(".gguf"):
            raise ConfigError(f"'{file[:120]}' is not a .gguf file name")
        check_file_name(file)
    return Ref(repo=repo, quant=quant, file=file)


def choose_files(ref: Ref, names: list[str]) -> list[str]:
    """The repo files to fetch: one GGUF, or every part of a split one."""
    ggufs = sorted(n for n in names if n.lower().endswith(".gguf") and "mmproj" not in n.lower())
    if ref.file is not None:
        if ref.file not in names:
            raise NotFound(f"{ref.repo} has no file '{ref.file}'. GGUF files: {_listing(ggufs)}")
        chosen = [ref.file]
    else:
        want = (ref.quant or DEFAULT_QUANT).lower()
        chosen = [n for n in ggufs if quant_of(n) == want]
        firsts = [n for n in chosen if not SPLIT.search(n) or SPLIT.search(n).group(1) == "00001"]  # type: ignore[union-attr]
        if not ggufs:
            raise NotFound(f"{ref.repo} has no GGUF files")
        if not chosen:
            quants = sorted({q for n in ggufs if (q := quant_of(n))})
            what = f"quantisation '{want}'" if ref.quant else f"'{DEFAULT_QUANT}' file"
            raise ConfigError(
                f"{ref.repo} has no {what}; choose one: "
                + ", ".join(f"{ref.repo}:{q.upper()}" for q in quants)
            )
        if len(firsts) > 1:
            raise ConfigError(f"Several files match: {_listing(firsts)}; name one as ORG/REPO/FILE")
        chosen = firsts
    match = SPLIT.search(chosen[0])
    if not match:
        return [check_file_name(chosen[0])]
    count = int(match.group(2))
    stem = chosen[0][: match.start()]
    parts = [f"{stem}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
    for part in parts:
        check_file_name(part)
    missing = [p for p in parts if p not in names]
    if missing:
        raise NotFound(f"{ref.repo} lacks split part(s): {_listing(missing)}")
    return parts


def _listing(names: list[str]) -> str:
    return ", ".join(names[:20]) + (f" (and {len(names) - 20} more)" if len(names) > 20 else "")


@contextmanager
def _hub_errors(repo: str) -> Iterator[None]:
    from huggingface_hub import errors

    try:
        yield
    except errors.OfflineModeIsEnabled as exc:
        raise Unreachable(f"Offline mode is on (HF_HUB_OFFLINE): cannot fetch {repo}") from exc
    except errors.GatedRepoError as exc:
        raise AuthenticationFailed(f"{repo} is gated: accept its terms and set HF_TOKEN") from exc
    except errors.RepositoryNotFoundError as exc:
        raise NotFound(f"No model repository '{repo}' (or it is private: set HF_TOKEN)") from exc
    except errors.RevisionNotFoundError as exc:
        raise NotFound(f"{repo} has no revision 'main'") from exc
    except errors.EntryNotFoundError as exc:
        raise NotFound(f"{repo}: {exc}") from exc
    except errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise ChatbotError(f"The hub answered HTTP {status} for {repo}") from exc
    except _transport_errors() as exc:
        raise Unreachable(f"Cannot reach the hub for {repo}: {exc}") from exc


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection failures of httpx and of the httpx fork newer huggingface_hub releases use."""
    import importlib

    found: list[type[BaseException]] = []
    for module in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def pull(
    store: Store, reference: str, *, name: str | None = None, progress: Progress | None = None
) -> Entry:
    """Download, check and record one model; returns its manifest entry."""
    ref = parse_ref(reference)
    known: dict[str, str] = {}  # sha256 computed while downloading
    if name is not None:
        check_id(name)
    if (name or "") == EMBEDDED_ID:
        raise ConfigError("The id 'default' is the embedded model's: choose another with --as")
    if ref.url is not None:
        quant = quant_of(ref.file or "")
        model_id = name or derive_id(ref.file or "model", quant)
        files, published, total = [ref.file or "model.gguf"], dict[str, str](), 0
    else:
        assert ref.repo is not None
        files, published, total = _list_repo(ref)
        quant = quant_of(files[0])
        model_id = name or derive_id(ref.file if ref.file else ref.repo.split("/")[1], quant)
    target = store.model_dir(model_id)
    paths = [target / f for f in files]
    with store.downloading(target):
        if ref.url is not None:
            digest = _fetch_url(ref.url, paths[0], progress)
            if digest is not None:
                known[files[0]] = digest
        elif ref.repo is not None:
            _check_space(target, total)
            _fetch_hub(ref.repo, files, target, progress)
        try:
            digests = _verify(paths, files, published, known)
        except ChatbotError:
            for path in paths:
                path.unlink(missing_ok=True)
            raise
    entry = Entry(
        id=model_id,
        source=reference,
        files=files,
        size=sum(p.stat().st_size for p in paths),
        sha256=digests,
        pulled_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    store.add(entry)
    return entry


def _list_repo(ref: Ref) -> tuple[list[str], dict[str, str], int]:
    from huggingface_hub import HfApi

    assert ref.repo is not None
    with _hub_errors(ref.repo):
        info = HfApi().model_info(ref.repo, files_metadata=True)
    siblings = {s.rfilename: s for s in info.siblings or []}
    files = choose_files(ref, list(siblings))
    published = {f: lfs.sha256 for f in files if (lfs := siblings[f].lfs) is not None}
    total = sum(siblings[f].size or 0 for f in files)
    return files, published, total


def _check_space(target: Path, needed: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target).free
    if needed > free:
        raise ChatbotError(
            f"Not enough disk space in {target}: the model needs {needed} bytes, {free} are free"
        )


def _fetch_hub(repo: str, files: list[str], target: Path, progress: Progress | None) -> None:
    """Each file into `<file>.<etag>.part`, resumed from what an earlier pull left there.

    hf_hub_download resumes only inside one process (its temporary file is deleted when the
    process is interrupted), so the part file is ours and the library's `http_get` (Range,
    retries, auth headers, proxies) fills it; the HEAD request and URL come from the library too.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    for file in files:
        dest = target / file
        dest.parent.mkdir(parents=True, exist_ok=True)
        with _hub_errors(repo):
            meta = get_hf_file_metadata(hf_hub_url(repo, file))
            if dest.is_file() and dest.stat().st_size == meta.size:
                continue  # pulled before: the hash check that follows confirms it
            # The etag names the content: a part file of an older revision is never resumed.
            tag = re.sub(r"[^A-Za-z0-9]", "", meta.etag or "")[:16] or "noetag"
            part = dest.with_name(f"{dest.name}.{tag}.part")
            for stale in dest.parent.glob(f"{dest.name}.*.part"):
                if stale != part:
                    stale.unlink()
            have = part.stat().st_size if part.exists() else 0
            with part.open("ab") as fh:
                http_get(
                    meta.location,
                    fh,
                    resume_size=have,
                    headers=build_hf_headers(),
                    expected_size=meta.size,
                    displayed_filename=file,
                    tqdm_class=_bar_class(file, progress),
                )
        part.replace(dest)


def _bar_class(file: str, progress: Progress | None) -> Any:
    """A tqdm class for huggingface_hub that draws nothing and reports bytes to `progress`."""
    from huggingface_hub.utils import tqdm

    class Bar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self._advance = (
                progress(file, kwargs.get("total"), kwargs.get("initial") or 0)
                if progress
                else None
            )

        def update(self, n: float | None = 1) -> bool | None:
            if self._advance is not None and n:
                self._advance(int(n))
            return super().update(n)

    return Bar


def _fetch_url(url: str, dest: Path, progress: Progress | None) -> str | None:
    """GET into `<dest>.part`, resuming it with a Range request, then rename; returns the
    file's sha256 (None when the part file already held every byte)."""
    import httpx

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    digest: str | None = None
    try:
        with httpx.stream(
            "GET", url, headers=headers, follow_redirects=True, timeout=30, trust_env=True
        ) as resp:
            if resp.status_code == 416 and have:
                # The part file already holds every byte.
                resp.close()
            else:
                if resp.status_code == 404:
                    raise NotFound(f"No file at {url}")
                if resp.status_code not in (200, 206):
                    raise ChatbotError(f"HTTP {resp.status_code} fetching {url}")
                if resp.status_code == 200:
                    have = 0  # the server ignored the Range: start again
                length = resp.headers.get("Content-Length")
                total = int(length) + have if length and length.isdigit() else None
                if total:
                    _check_space(dest.parent, total - have)
                advance = progress(dest.name, total, have) if progress else None
                hasher = FileHasher(part if have else _empty(part))
                done = have

                def moved(n: int) -> None:
                    nonlocal done
                    done += n
                    hasher.written(done)
                    if advance:
                        advance(n)

                try:
                    # Not "ab": splice(2) refuses a file opened for appending.
                    with part.open("r+b" if have else "wb", buffering=0) as fh:
                        fh.seek(have)
                        receive(resp, fh, total - have if total else None, moved)
                finally:
                    digest = hasher.hexdigest()
    except (httpx.TransportError, Interrupted) as exc:
        raise Unreachable(
            f"Download of {url} interrupted: {exc} (run the pull again to resume)"
        ) from exc
    part.replace(dest)
    return digest


def _verify(
    paths: list[Path], files: list[str], published: dict[str, str], known: dict[str, str]
) -> dict[str, str]:
    """Check every file's GGUF header and hash (unless `known` has it); returns {file: sha256}."""
    from chatbot_cli.engine.gguf import GGUF_MAGIC, check_gguf, read_header

    digests: dict[str, str] = {}
    for i, (path, file) in enumerate(zip(paths, files, strict=True)):
        if not path.is_file():
            raise ChatbotError(f"Download of {file} produced no file")
        try:
            # Only the first part of a split GGUF carries the model's metadata.
            if i == 0:
                check_gguf(path)
            elif read_header(path)[0] != GGUF_MAGIC:
                raise ConfigError(f"{path} is not a GGUF model file")
        except ConfigError as exc:
            raise ChatbotError(f"Removed {file}: {exc.message}") from exc
        digest = known.get(file) or sha256_file(path)
        if file in published and published[file] != digest:
            raise ChatbotError(
                f"Removed {file}: its sha256 {digest} differs from the published {published[file]}"
            )
        digests[file] = digest
    return digests


def _empty(part: Path) -> Path:
    """`part` created empty, so that the hasher can open it before the first byte arrives."""
    part.write_bytes(b"")
    return part
