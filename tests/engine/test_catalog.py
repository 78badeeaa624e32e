"""The catalog of servable models: the configured default first, then the pulled ones; a
pulled model that cannot be served is left out; the manifest is re-read when it changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chatbot_cli.config import load_settings
from chatbot_cli.engine import catalog as catalog_module
from chatbot_cli.engine.catalog import Catalog, kv_bytes_per_token
from chatbot_cli.errors import ConfigError
from chatbot_cli.models_store import Entry, Store


def pull_into(store: Store, model_id: str, source: Path) -> Path:
    target = store.model_dir(model_id) / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    store.add(Entry(model_id, "test", [source.name], target.stat().st_size))
    return target


def test_default_first_then_pulled_models(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(model=str(tiny_model), models_dir=str(tmp_path / "models"))
    store = Store(settings.effective_models_dir)
    pull_into(store, "beta", tiny_model)
    damaged = pull_into(store, "damaged", tiny_model)
    damaged.write_bytes(b"not a model")
    catalog = Catalog(settings)
    assert [i.id for i in catalog.infos()] == ["tiny", "beta"]
    assert catalog.memory_per_token("beta") > 0
    # What a conversation gets here (the default slots share n_ctx), and the model's own.
    beta = catalog.infos()[1]
    assert (beta.context_length, beta.trained_context) == (1024, 2048)

    # A pull while the server runs shows up once the manifest is checked again.
    monkeypatch.setattr(catalog_module, "RECHECK_SECONDS", 0.0)
    pull_into(store, "gamma", tiny_model)
    assert [i.id for i in catalog.infos()] == ["tiny", "beta", "gamma"]
    store.remove("beta")
    assert [i.id for i in catalog.infos()] == ["tiny", "gamma"]


def test_model_may_name_a_pulled_id(tiny_model: Path, tmp_path: Path) -> None:
    settings = load_settings(model="beta", models_dir=str(tmp_path / "models"))
    with pytest.raises(ConfigError, match="neither a file nor a pulled model's id"):
        Catalog(settings)
    pull_into(Store(settings.effective_models_dir), "beta", tiny_model)
    catalog = Catalog(settings)
    assert catalog.default is not None and catalog.default.info.id == "beta"
    assert [i.id for i in catalog.infos()] == ["beta"]


def test_kv_cache_estimate_follows_the_metadata() -> None:
    meta = {
        "general.architecture": "llama",
        "llama.block_count": 2,
        "llama.embedding_length": 64,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
    }
    # 2 layers x 2 KV heads x 16 dims: keys 8-bit in blocks of 32 (34 bytes), values 16-bit.
    assert kv_bytes_per_token(meta) == 2 * (2 * 16 * 34 // 32 + 2 * 16 * 2)
    assert kv_bytes_per_token({"general.architecture": "llama"}) == 0
