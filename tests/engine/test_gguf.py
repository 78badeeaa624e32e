"""GGUF header and metadata, and the one check of which files each engine can load."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot_cli.engine.gguf import (
    CTRANSFORMERS,
    LLAMACPP,
    check_model_file,
    read_gguf_metadata,
    trained_context,
)
from chatbot_cli.errors import ConfigError
from tests.tinymodel import write_tiny_model


@pytest.fixture(scope="module")
def v2_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("gguf") / "tiny-v2.gguf", version=2)


def test_metadata_is_read_without_loading(tiny_model: Path) -> None:
    meta = read_gguf_metadata(tiny_model)
    assert meta["general.architecture"] == "llama"
    assert meta["llama.context_length"] == 2048
    assert meta["llama.embedding_length"] == 64
    assert meta["tokenizer.ggml.tokens"] > 256  # arrays are reported by length
    assert "<|im_start|>" in meta["tokenizer.chat_template"]
    assert trained_context(meta) == 2048
    assert trained_context({"general.architecture": "llama"}) is None


def test_context_length_kwarg_and_version_patch(tmp_path: Path) -> None:
    small = write_tiny_model(tmp_path / "small.gguf", context_length=512, version=2)
    assert small.read_bytes()[:8] == b"GGUF" + (2).to_bytes(4, "little")
    assert read_gguf_metadata(small)["llama.context_length"] == 512


def test_llamacpp_takes_gguf_v2_and_later(tiny_model: Path, v2_model: Path) -> None:
    for path, version in ((tiny_model, 3), (v2_model, 2)):
        file = check_model_file(path, LLAMACPP)
        assert (file.legacy, file.version) == (False, version)
        assert file.meta["general.architecture"] == "llama"


def test_llamacpp_refuses_what_it_cannot_load(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("hello, this is not a model")
    with pytest.raises(ConfigError, match="not a GGUF model file"):
        check_model_file(text, LLAMACPP)
    legacy = tmp_path / "old.bin"
    legacy.write_bytes(b"tjgg" + b"\0" * 64)
    with pytest.raises(ConfigError, match="legacy GGML"):
        check_model_file(legacy, LLAMACPP)
    v1 = tmp_path / "v1.gguf"
    v1.write_bytes(b"GGUF" + (1).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(ConfigError, match="version 1"):
        check_model_file(v1, LLAMACPP)
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + b"\5")
    with pytest.raises(ConfigError, match="not a valid GGUF"):
        check_model_file(truncated, LLAMACPP)
    empty_meta = tmp_path / "empty.gguf"
    empty_meta.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(ConfigError, match="names no architecture"):
        check_model_file(empty_meta, LLAMACPP)
    with pytest.raises(ConfigError, match="Cannot read model file"):
        check_model_file(tmp_path, LLAMACPP)


# ctransformers crashes the process on modern files: the header check is what keeps them away.


def test_gguf_v3_is_refused_before_ctransformers_sees_it(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="GGUF version 3.*llamacpp engine"):
        check_model_file(tiny_model, CTRANSFORMERS)


def test_gguf_v2_llama_and_legacy_ggml_are_accepted(v2_model: Path, tmp_path: Path) -> None:
    file = check_model_file(v2_model, CTRANSFORMERS)
    assert not file.legacy and file.meta["general.architecture"] == "llama"
    legacy = tmp_path / "old.bin"
    legacy.write_bytes(b"tjgg" + (3).to_bytes(4, "little") + b"\0" * 64)
    file = check_model_file(legacy, CTRANSFORMERS)
    assert file.legacy and file.meta == {}


def test_ctransformers_refuses_other_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x7fELF" + b"\0" * 64)
    with pytest.raises(ConfigError, match="not a GGUF or GGML"):
        check_model_file(junk, CTRANSFORMERS)
    future = tmp_path / "v4.gguf"
    future.write_bytes(b"GGUF" + (4).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(ConfigError, match="version 4"):
        check_model_file(future, CTRANSFORMERS)


def test_non_llama_v2_model_is_refused_by_ctransformers(v2_model: Path, tmp_path: Path) -> None:
    data = v2_model.read_bytes()
    # Same length as "llama", so the metadata layout is unchanged.
    other = tmp_path / "other.gguf"
    other.write_bytes(data.replace(b"llama", b"gpt2x", 1))
    with pytest.raises(ConfigError, match="'gpt2x' model"):
        check_model_file(other, CTRANSFORMERS)
    assert check_model_file(other, LLAMACPP).meta["general.architecture"] == "gpt2x"


def test_a_template_that_reads_tools_marks_a_model_trained_for_them() -> None:
    from chatbot_cli.engine.gguf import template_handles_tools

    assert template_handles_tools({"tokenizer.chat_template": "{% if tools %}<tool>{% endif %}"})
    smollm2 = "{% for message in messages %}{{'<|im_start|>' + message['role']}}{% endfor %}"
    assert not template_handles_tools({"tokenizer.chat_template": smollm2})
    assert not template_handles_tools({"tokenizer.chat_template": "{{ toolset }}"})
    assert not template_handles_tools({})
