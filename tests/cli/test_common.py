"""The CLI's fast client-config path must agree with Settings in every precedence case."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot_cli.cli.common import GLOBAL, client_config, settings
from chatbot_cli.config import load_settings, write_config_values


def expected(**flags: str) -> dict[str, object]:
    s = load_settings(**flags)
    return {"url": s.url, "api_key": s.api_key_value(), "timeout": s.timeout}


@pytest.fixture(autouse=True)
def no_global_flags() -> None:
    GLOBAL.clear()


def test_defaults_match_settings() -> None:
    assert client_config() == expected()


def test_file_env_and_flags_match_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config_values({"url": "http://file:1/", "api_key": "file-key", "timeout": 5})
    assert client_config() == expected()
    monkeypatch.setenv("CHATBOT_URL", "http://env:2")
    monkeypatch.setenv("chatbot_api_key", "env-key")  # pydantic-settings ignores case
    monkeypatch.setenv("CHATBOT_TIMEOUT", "")  # empty values are ignored
    assert client_config() == expected()
    assert client_config(url="http://flag:3") == expected(url="http://flag:3")
    GLOBAL["api_key"] = "global-flag"
    assert client_config()["api_key"] == "global-flag"  # type: ignore[index]


@pytest.mark.parametrize("bad", [{"timeout": "soon"}, {"timeout": -1}, {"url": 5}])
def test_invalid_values_fall_back_to_full_validation(bad: dict[str, object]) -> None:
    write_config_values(bad)
    assert client_config() is None


def test_upper_case_file_keys_match_settings() -> None:
    # pydantic-settings matched TOML keys case-insensitively; the fast path once did not.
    write_config_values({"URL": "http://upper:1", "Timeout": 7})
    assert client_config() == expected()


def test_unreadable_file_falls_back_and_fails_as_one_line(isolated_env: Path) -> None:
    (isolated_env / "config.toml").write_text("url = \n")
    assert client_config() is None
    with pytest.raises(SystemExit) as info:
        settings()
    assert info.value.code == 2


def test_bad_structured_env_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBOT_CORS_ORIGINS", "not json")
    with pytest.raises(SystemExit) as info:
        settings()
    assert info.value.code == 2
