"""Helpers every command uses: global options, settings, error exit, output mode."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from chatbot_cli.client import Client
    from chatbot_cli.config import Settings

T = TypeVar("T")

# Global options (set by the root callback): flags that override the config layer.
GLOBAL: dict[str, Any] = {}


def settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from chatbot_cli.config import load_settings

    try:
        given = {k: v for k, v in overrides.items() if v is not None}
        return load_settings(**{**GLOBAL, **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "config"
        fail(f"Invalid setting '{where}': {first.get('msg')}", 2)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then exit non-zero. Never a traceback."""
    sys.stderr.write(f"Error: {' '.join(message.split())}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


@contextmanager
def handle_errors() -> Iterator[None]:
    from chatbot_cli.errors import ChatbotError

    try:
        yield
    except ChatbotError as exc:
        fail(exc.message, exc.exit_code)
    except OSError as exc:
        fail(str(exc), 1)


def make_client(url: str | None = None, api_key: str | None = None) -> Client:
    from chatbot_cli.client import Client

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
