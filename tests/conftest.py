from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveServer

pytest_plugins = ["tests.watchdog"]

# A suite started as a background job of a non-interactive shell inherits SIGINT ignored, and an
# ignored signal stays ignored across exec, so the CLI processes the Ctrl-C tests interrupt would
# never see it; a handler, unlike SIG_IGN, is reset to the default by exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config file, data dir and XDG dirs; no CHATBOT_* leaks in."""
    for name in list(os.environ):
        if name.startswith("CHATBOT_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CHATBOT_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    return home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few-hundred-KB llama GGUF with random weights: the real load and generation path."""
    from tests.tinymodel import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with ChatML's turn markers as special tokens, as real chat models have."""
    from tests.tinymodel import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("models") / "chat.gguf", chat_tokens=True)


@pytest.fixture
def start_server(tmp_path: Path, tiny_model: Path) -> Iterator[Callable[..., LiveServer]]:
    """Factory: start a real `chatbot serve` on a free loopback port (tiny model by default)."""
    servers: list[LiveServer] = []

    def start(**kwargs: Any) -> LiveServer:
        kwargs.setdefault("model", tiny_model)
        home = kwargs.pop("home", None) or tmp_path / f"srv{len(servers)}"
        home.mkdir(parents=True, exist_ok=True)
        server = LiveServer(home=home, **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
def live_server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server()
