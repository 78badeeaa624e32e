from __future__ import annotations

import pytest

from chatbot_cli.auth import (
    bearer_headers,
    ensure_server_key,
    generate_key,
    hash_key,
    keys_equal,
    parse_authorization,
)
from chatbot_cli.config import load_settings, read_config_file
from chatbot_cli.errors import AuthenticationFailed


@pytest.mark.parametrize(
    "header", ["Bearer abc", "bearer abc", "BEARER abc", "bearerabc", "  Bearer   abc  "]
)
def test_accepted_forms(header: str) -> None:
    assert parse_authorization(header) == "abc"


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "bearer a b", "Token abc"])
def test_rejected_forms(header: str | None) -> None:
    with pytest.raises(AuthenticationFailed) as info:
        parse_authorization(header)
    assert info.value.envelope()["error"]["type"] == "authentication_error"
    assert info.value.envelope()["error"]["code"] == "invalid_api_key"


def test_keys() -> None:
    a, b = generate_key(), generate_key()
    assert a != b and len(a) > 40
    assert keys_equal(a, a) and not keys_equal(a, b)
    assert len(hash_key(a)) == 64 and hash_key(a) != hash_key(b)
    assert bearer_headers(a) == {"Authorization": f"Bearer {a}"}
    assert bearer_headers(None) == {}


def test_ensure_server_key_generates_once() -> None:
    s = load_settings()
    key, path = ensure_server_key(s)
    assert path is not None and read_config_file(path)["api_key"] == key
    again, written = ensure_server_key(load_settings())
    assert again == key and written is None
