"""Helpers every command uses: global options, settings, error exit, output mode."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from chatbot_cli.paths import DEFAULT_TIMEOUT, DEFAULT_URL, url_problem

if TYPE_CHECKING:
    from chatbot_cli.client import Client
    from chatbot_cli.config import Settings

T = TypeVar("T")

# Boxed, coloured help on a terminal; plain text when piped (scripts, `| less`, completion
# generators). Plain help also skips importing rich's Markdown renderer, a start-up cost.
HELP_MARKUP: Literal["rich"] | None = "rich" if sys.stdout and sys.stdout.isatty() else None
HELP_OPTIONS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

# Global options (set by the root callback): flags that override the config layer.
GLOBAL: dict[str, Any] = {}


def settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from chatbot_cli.config import load_settings
    from chatbot_cli.errors import ConfigError

    try:
        given = {k: v for k, v in overrides.items() if v is not None}
        return load_settings(**{**GLOBAL, **given})
    except ConfigError as exc:
        fail(str(exc), 2)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "config"
        fail(f"Invalid setting '{where}': {str(first.get('msg')).removeprefix('Value error, ')}", 2)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit non-zero. Never a traceback. The message may quote the
    server or a model, so its control characters are made visible. SystemExit, not typer.Exit:
    the typer-free fast path (todo_fast.py) fails the same way, and click lets it through."""
    from chatbot_cli.cli.sanitize import one_line

    sys.stderr.write(f"Error: {one_line(message)}\n")
    sys.stderr.flush()
    raise SystemExit(code)


@contextmanager
def handle_errors() -> Iterator[None]:
    from chatbot_cli.errors import ChatbotError

    try:
        yield
    except ChatbotError as exc:
        fail(exc.message, exc.exit_code)
    except OSError as exc:
        fail(str(exc), 1)


# What a client command needs from the settings, with the defaults of config.Settings.
_CLIENT_DEFAULTS: dict[str, Any] = {"url": DEFAULT_URL, "api_key": None, "timeout": DEFAULT_TIMEOUT}


def client_config(url: str | None = None, api_key: str | None = None) -> dict[str, Any] | None:
    """url, api_key and timeout by the precedence Settings uses (`_precedence.resolve`: flag >
    CHATBOT_* env > TOML file > default), without building Settings: importing pydantic-settings
    alone costs more than the rest of `chatbot todo list`. None if a value looks wrong (or the
    file cannot be read); the caller then builds the full Settings, whose validation reports it."""
    from chatbot_cli._precedence import FILE_ERRORS, resolve

    flags = {**GLOBAL, **{k: v for k, v in (("url", url), ("api_key", api_key)) if v is not None}}
    try:
        found = resolve(_CLIENT_DEFAULTS, flags)
    except FILE_ERRORS:
        return None
    values = {
        name: found[name][1] if name in found else default
        for name, default in _CLIENT_DEFAULTS.items()
    }
    if not isinstance(values["url"], str) or url_problem(values["url"]):
        return None
    if values["api_key"] is not None and not isinstance(values["api_key"], str):
        return None
    if isinstance(values["timeout"], bool):
        return None
    try:
        values["timeout"] = float(values["timeout"])
    except (TypeError, ValueError):
        return None
    if not 0 < values["timeout"] < float("inf"):
        return None
    values["url"] = values["url"].rstrip("/")
    return values


def make_client(url: str | None = None, api_key: str | None = None) -> Client:
    from chatbot_cli.client import Client

    fast = client_config(url, api_key)
    if fast is not None:
        return Client(fast["url"], fast["api_key"] or None, timeout=fast["timeout"])
    s = settings(url=url, api_key=api_key)
    return Client(s.url, s.api_key_value(), timeout=s.timeout)


def is_tty() -> bool:
    return sys.stdout.isatty()


def print_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def run(fn: Callable[[], T]) -> T:
    with handle_errors():
        return fn()
    raise AssertionError("unreachable")  # handle_errors always exits on error
