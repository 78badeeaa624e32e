"""`chatbot --help` piped (plain text) from a cache: building the help means importing typer and
every command module, several times the interpreter's own start-up, for the same text each time.

The text is stored with the key it was made under, and used only when the key matches: the
program name as typed, the interpreter, the terminal width and locale settings, and the size and
modification time of every module the root help is built from (chatbot_cli/*.py and cli/*.py)
and of typer, click and rich. Anything else runs typer as before, which stores the text when it
exits 0. A cache that cannot be read or written is ignored.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

_ENV = ("COLUMNS", "LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES")


def _stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:-"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _width() -> str:
    try:
        return str(os.get_terminal_size(sys.__stdout__.fileno()).columns)  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return "-"


def key(args: list[str]) -> str:
    """Everything the root help's text can depend on, one item a line."""
    import importlib.util

    package = Path(__file__).resolve().parent.parent
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    items = [
        "chatbot root help 1",
        repr(args),
        sys.argv[0],
        getattr(spec, "name", "") or "",
        sys.executable,
        sys.version,
        _width(),
        *(f"{name}={os.environ.get(name, '')}" for name in _ENV),
    ]
    for folder in (package, package / "cli"):
        items += sorted(_stamp(str(folder / f)) for f in os.listdir(folder) if f.endswith(".py"))
    for name in ("typer", "click", "rich"):
        found = importlib.util.find_spec(name)
        items.append(_stamp(found.origin) if found and found.origin else f"{name}:-")
    return "\n".join(items)


def _file(text_key: str) -> Path:
    from zlib import crc32

    from chatbot_cli.paths import cache_dir

    return cache_dir() / f"help-{crc32(text_key.encode()):08x}.txt"


def cached(text_key: str) -> str | None:
    try:
        stored = _file(text_key).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    head, sep, text = stored.partition("\n\n\n")
    return text if sep and head == text_key else None


def store(text_key: str, text: str) -> None:
    path = _file(text_key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f"{path.name}.{os.getpid()}")
        part.write_text(f"{text_key}\n\n\n{text}", encoding="utf-8")
        os.replace(part, path)  # readers see the old file or the whole new one
    except OSError:
        pass


def root_help(args: list[str]) -> None:
    """Print the root help for `args` (`--help` or `-h`) and exit as typer would."""
    text_key = key(args)
    text = cached(text_key)
    if text is not None:
        sys.stdout.write(text)
        return
    from chatbot_cli.cli.app import app

    real, sys.stdout = sys.stdout, io.StringIO()
    code: object = 0
    try:
        app(args=args)
    except SystemExit as exc:
        code = exc.code
    finally:
        captured, sys.stdout = sys.stdout.getvalue(), real  # type: ignore[attr-defined]
    sys.stdout.write(captured)
    if code in (0, None) and captured:
        store(text_key, captured)
    if code not in (0, None):
        raise SystemExit(code)
