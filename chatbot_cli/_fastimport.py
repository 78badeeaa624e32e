"""Start-up trims for the CLI's client path (`chatbot todo` runs in shell loops)."""

from __future__ import annotations

import sys
import types


def _httpx_cli(*_: object) -> None:
    raise SystemExit("httpx's own command-line tool is not available inside chatbot")


def skip_httpx_cli() -> None:
    """httpx's package __init__ imports its own command-line tool (click, rich, pygments: a large
    part of a `chatbot todo` command) only to re-export `httpx.main`, which we never call.
    Pre-register that module when httpx is not loaded yet, so the import is skipped."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stub = types.ModuleType("httpx._main")
    stub.main = _httpx_cli  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stub
