"""models_store's parameter count, read from GGUF tensor tables and checked against the gguf
package's reader (which parses the whole file: too slow for `models list` on real models); the
context lengths of `models list`'s pulled rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import gguf

from chatbot_cli.config import load_settings
from chatbot_cli.models_store import Entry, Store, parameter_count, pulled_rows
from tests.tinymodel import write_tiny_model


def weights(path: Path) -> int:
    return sum(int(t.n_elements) for t in gguf.GGUFReader(path).tensors)


def test_the_count_is_the_gguf_readers_sum_of_tensor_elements(tiny_model: Path) -> None:
    assert parameter_count(tiny_model) == weights(tiny_model) > 100_000


def test_a_version_2_file_is_counted_the_same(tmp_path: Path, tiny_model: Path) -> None:
    v2 = write_tiny_model(tmp_path / "v2.gguf", version=2)
    assert parameter_count(v2) == weights(tiny_model)


def test_a_split_model_counts_every_part(tmp_path: Path, tiny_model: Path) -> None:
    parts = [tmp_path / f"big-Q8_0-0000{i}-of-00002.gguf" for i in (1, 2)]
    for part in parts:
        shutil.copy(tiny_model, part)
    # Any part names them all; a missing part leaves the count unknown, not halved.
    assert parameter_count(parts[0]) == parameter_count(parts[1]) == 2 * weights(tiny_model)
    parts[1].unlink()
    assert parameter_count(parts[0]) is None


def test_no_count_for_what_is_not_a_whole_table(tmp_path: Path, tiny_model: Path) -> None:
    data = tiny_model.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:2000])  # inside the metadata, before the table
    assert parameter_count(cut) is None
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    assert parameter_count(text) is None
    assert parameter_count(tmp_path / "missing.gguf") is None


def test_pulled_rows_show_the_trained_context_and_the_served_one_apart(tmp_path: Path) -> None:
    store = Store(tmp_path / "models")
    for model_id, trained in (("long", 32768), ("short", 512)):
        target = store.model_dir(model_id) / f"{model_id}.gguf"
        target.parent.mkdir(parents=True)
        write_tiny_model(target, context_length=trained)
        store.add(Entry(model_id, "test", [target.name], target.stat().st_size))
    rows = {r["id"]: r for r in pulled_rows(store, load_settings(n_ctx=4096, parallel=2))}
    # The model's own llama.context_length, whatever the server would give one conversation.
    assert rows["long"]["context_length"] == 32768
    assert rows["long"]["served_context_length"] == 2048  # n_ctx shared by 2 slots
    assert rows["short"]["context_length"] == 512
    assert rows["short"]["served_context_length"] == 512  # never beyond the trained length
