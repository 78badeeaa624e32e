"""_precedence: the one flag > env > TOML file > default order, shared by Settings and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from chatbot_cli._precedence import encode_env, env_values, file_values, resolve
from chatbot_cli.config import Settings, load_settings, write_config_values


def test_each_layer_wins_over_the_ones_below(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('url = "file"\nport = 1\nhost = "h"\n')
    environ = {"CHATBOT_URL": "env", "CHATBOT_PORT": "2"}
    found = resolve(["url", "port", "host", "model"], {"url": "flag"}, environ=environ, path=path)
    assert found == {"url": ("flag", "flag"), "port": ("env", "2"), "host": ("file", "h")}


def test_env_names_ignore_case_and_empty_values_are_not_given() -> None:
    environ = {"chatbot_api_key": "k", "CHATBOT_TIMEOUT": "", "OTHER_URL": "x", "CHATBOT_URL": "u"}
    assert env_values(environ) == {"api_key": "k", "url": "u"}


def test_file_keys_ignore_case_and_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert file_values(tmp_path / "none.toml") == {}
    path = tmp_path / "c.toml"
    path.write_text('URL = "x"\n')
    assert file_values(path) == {"url": "x"}


def test_a_broken_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("url = \n")
    with pytest.raises(ValueError):
        file_values(path)


def test_encoded_env_reads_back_as_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `chatbot serve --workers N` hands its workers must rebuild the parent's settings."""
    given = {
        "host": "127.0.0.1",
        "port": 8123,
        "no_auth": True,
        "warmup": False,
        "cors_origins": ["http://a.test", "http://b.test"],
        "api_key": SecretStr("sk-secret"),
        "timeout": 2.5,
    }
    encoded = encode_env(given)
    assert encoded["CHATBOT_API_KEY"] == "sk-secret"  # the value, never the masked form
    for name, value in encoded.items():
        monkeypatch.setenv(name, value)
    rebuilt = load_settings()
    assert rebuilt.model_dump() == Settings(**given).model_dump()
    assert rebuilt.api_key_value() == "sk-secret"


def test_settings_use_the_shared_order(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config_values({"URL": "http://file:1", "port": 1})
    monkeypatch.setenv("chatbot_port", "2")
    s = load_settings(url=None)
    assert (s.url, s.port) == ("http://file:1", 2)
    assert load_settings(url="http://flag:3").url == "http://flag:3"
    assert os.environ.get("CHATBOT_URL") is None
