"""API keys: generation, hashing, constant-time checks, header parsing and building."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot_cli.errors import AuthenticationFailed

if TYPE_CHECKING:
    from chatbot_cli.config import Settings

KEY_PREFIX = "sk-chatbot-"
# The scheme is case-insensitive, and the seed document's examples send "bearer<key>" with no
# space, so the separator is optional.
_BEARER = re.compile(r"^\s*bearer(?:\s+|(?=\S))(?P<key>\S+)\s*$", re.IGNORECASE)


# hashlib, hmac and secrets are imported where used: the CLI imports this module on every
# `chatbot todo` command (for bearer_headers) and uses none of them; in the server the import
# statement finds them loaded.


def generate_key() -> str:
    import secrets

    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_authorization(header: str | None) -> str:
    """Return the key from an Authorization header, or raise AuthenticationFailed."""
    if not header:
        raise AuthenticationFailed(
            "Missing API key: send 'Authorization: Bearer <key>'.", code="invalid_api_key"
        )
    match = _BEARER.match(header)
    if not match:
        raise AuthenticationFailed(
            "Malformed Authorization header: expected 'Bearer <key>'.", code="invalid_api_key"
        )
    return match.group("key")


def keys_equal(given: str, expected: str) -> bool:
    import hmac

    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bearer_headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def ensure_server_key(settings: Settings) -> tuple[str, Path | None]:
    """The key the server accepts as owner "default".

    With none configured, generate one and store it in the config file (mode 0600) so the CLI on
    this machine finds it. Returns the key and the path it was written to (None if it existed).
    """
    existing = settings.api_key_value()
    if existing:
        return existing, None
    # Imported here: the CLI's client imports this module for bearer_headers, and importing
    # pydantic / pydantic-settings would slow the start of every `chatbot todo` command.
    from pydantic import SecretStr

    from chatbot_cli.config import config_path, write_config_values

    key = generate_key()
    path = write_config_values({"api_key": key}, config_path())
    settings.api_key = SecretStr(key)
    return key, path
