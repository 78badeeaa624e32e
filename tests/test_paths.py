"""Where the CLI keeps its files."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot_cli.paths import cache_dir


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "chatbot"


@pytest.mark.parametrize("value", ["", "  ", "relative/dir"])
def test_cache_dir_defaults_to_home(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # The XDG spec ignores relative paths.
    monkeypatch.setenv("XDG_CACHE_HOME", value)
    assert cache_dir() == Path.home() / ".cache" / "chatbot"
