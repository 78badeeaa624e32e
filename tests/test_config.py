from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from chatbot_cli.config import (
    Settings,
    config_path,
    load_settings,
    read_config_file,
    redact_url,
    write_config_values,
)


def test_defaults(isolated_env: Path) -> None:
    s = load_settings()
    assert s.url == "http://127.0.0.1:8000"
    assert s.host == "127.0.0.1"
    assert s.port == 8000
    assert s.api_key is None
    assert s.effective_database_url.startswith("sqlite:///")
    assert s.effective_database_url.endswith("chatbot.db")


def test_precedence_flag_over_env_over_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config_values({"url": "http://file:1", "port": 1111, "model": "/file.gguf"})
    assert load_settings().url == "http://file:1"
    monkeypatch.setenv("CHATBOT_URL", "http://env:2")
    monkeypatch.setenv("CHATBOT_PORT", "2222")
    s = load_settings()
    assert (s.url, s.port, s.model) == ("http://env:2", 2222, "/file.gguf")
    s = load_settings(url="http://flag:3", port=None)
    assert (s.url, s.port) == ("http://flag:3", 2222)


def test_exact_env_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHATBOT_URL", "http://x:9")
    monkeypatch.setenv("CHATBOT_API_KEY", "k1")
    monkeypatch.setenv("CHATBOT_DATABASE_URL", "postgresql://u:secret@h/db")
    monkeypatch.setenv("CHATBOT_MODEL", "/m.gguf")
    other = tmp_path / "other.toml"
    other.write_text('host = "0.0.0.0"\n')
    monkeypatch.setenv("CHATBOT_CONFIG", str(other))
    s = load_settings()
    assert s.url == "http://x:9"
    assert s.api_key_value() == "k1"
    assert s.database_url == "postgresql://u:secret@h/db"
    assert s.model == "/m.gguf"
    assert s.host == "0.0.0.0"
    assert config_path() == other


def test_redacted_hides_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_API_KEY", "supersecret")
    monkeypatch.setenv("CHATBOT_DATABASE_URL", "postgresql://u:pw@h/db")
    shown = load_settings().redacted()
    assert "supersecret" not in str(shown)
    assert "pw" not in shown["database_url"]
    assert shown["api_key"] == "********"


def test_write_is_0600_and_merges() -> None:
    path = write_config_values({"url": "http://a"})
    write_config_values({"port": 9})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_config_file() == {"url": "http://a", "port": 9}


def test_invalid_value_is_rejected() -> None:
    with pytest.raises(ValueError):
        Settings(port=70000)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:********@h/db"),
        ("postgresql+asyncpg://u:p@ss@h:5433/db", "postgresql+asyncpg://u:********@h:5433/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url_hides_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_config_file_that_is_not_toml_is_one_config_error() -> None:
    from chatbot_cli.errors import ConfigError

    config_path().write_text('url = "http://x"\nthis is = not toml [\n')
    for load in (load_settings, read_config_file):
        with pytest.raises(ConfigError) as caught:
            load()
        assert caught.value.exit_code == 2
        assert caught.value.message.startswith(f"{config_path()}:2:6: invalid TOML: Expected '='")
        assert "\n" not in caught.value.message


def test_a_config_file_that_is_not_utf8_is_one_config_error() -> None:
    from chatbot_cli.errors import ConfigError

    config_path().write_bytes(b"url = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings()
