"""Where the config file and data live, and the client-side defaults.

Kept free of pydantic so the CLI's fast path (`chatbot todo ...`) can read them without building
Settings; `config.Settings` takes its defaults from here, so the two cannot drift apart.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "chatbot"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 600.0


def config_path() -> Path:
    override = os.environ.get("CHATBOT_CONFIG")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """Where the CLI keeps what it can rebuild (the root help): XDG's cache home, without
    platformdirs, whose import costs more than the cached work saves."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / APP_NAME


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a server URL (it needs http:// or https:// and a host), or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        return f"'{url}' is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"'{url}' must start with http:// or https://"
    if not parts.hostname:
        return f"'{url}' names no host"
    return None
