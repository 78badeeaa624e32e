"""The engine factory: the backend for each engine setting, and the fail-fast check (nothing
here loads a model)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

from chatbot_cli.config import load_settings
from chatbot_cli.engine.base import GenerationRequest
from chatbot_cli.engine.noengine import NoEngine
from chatbot_cli.engine.registry import build_engine, check_models
from chatbot_cli.errors import ConfigError, ModelNotFound


def test_engine_none_serves_no_models() -> None:
    engine = build_engine(load_settings(engine="none"))
    assert isinstance(engine, NoEngine)

    async def scenario() -> None:
        await engine.start()
        assert engine.models == []
        assert engine.stats() == {"busy_slots": 0, "queue_depth": 0, "slots": 0}
        with pytest.raises(ModelNotFound):
            async for _ in engine.stream("default", GenerationRequest(messages=[])):
                pass
        await engine.close()

    asyncio.run(scenario())


def test_build_engine_checks_the_file_but_loads_nothing(tiny_model: Path) -> None:
    from chatbot_cli.engine.manager import ModelManager

    engine = build_engine(load_settings(model=str(tiny_model)))
    assert isinstance(engine, ModelManager)
    assert engine.status() == []  # nothing loaded until start()
    assert [m.id for m in engine.models] == ["tiny"]
    asyncio.run(engine.close())


def test_check_models_fails_fast_on_unservable_settings(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [m.id for m in check_models(load_settings(model=str(tiny_model)))] == ["tiny"]
    assert check_models(load_settings(engine="none")) == []
    with pytest.raises(ConfigError, match="--upstream-url"):
        check_models(load_settings(engine="openai"))
    assert check_models(load_settings(engine="openai", upstream_url="http://127.0.0.1:9")) == []
    with pytest.raises(ConfigError, match="Model file not found"):
        check_models(load_settings(model=str(tiny_model.with_name("missing.gguf"))))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ctransformers" else real(name, *a),
    )
    with pytest.raises(ConfigError, match=r"pip install 'chatbot-cli\[ctransformers\]'"):
        check_models(load_settings(model=str(tiny_model), engine="ctransformers"))


def test_build_engine_refuses_a_file_that_is_no_model(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("hello, this is not a model")
    with pytest.raises(ConfigError, match="not a GGUF"):
        build_engine(load_settings(model=str(text)))
