"""`chatbot models pull/list/show/rm` against a hub on loopback, reached through HF_ENDPOINT.

The CLI runs in a subprocess: huggingface_hub reads HF_ENDPOINT when it is imported, so this is
the same path a user's environment takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hubserver import Hub
from tests.live import free_port
from tests.tinymodel import write_tiny_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_tiny_model(tmp_path_factory.mktemp("m") / "t.gguf").read_bytes()


@pytest.fixture
def hub(gguf: bytes) -> Iterator[Hub]:
    with Hub() as h:
        h.repos["acme/Tiny-Chat-GGUF"] = {
            "tiny-chat-Q8_0.gguf": gguf,
            "tiny-chat-Q4_K_M.gguf": gguf,
            "README.md": b"# tiny\n",
        }
        h.repos["acme/only-q8"] = {"only-Q8_0.gguf": gguf, "only-F16.gguf": gguf}
        h.repos["acme/split"] = {
            "big-Q4_K_M-00001-of-00002.gguf": gguf,
            "big-Q4_K_M-00002-of-00002.gguf": gguf[::-1].replace(b"FUGG", b"") + b"",
        }
        yield h


@pytest.fixture
def models_dir(isolated_env: Path) -> Path:
    return isolated_env / "data" / "models"


def cli(hub: Hub, *args: str, **extra: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(Path(os.environ["CHATBOT_DATA_DIR"]).parent / "hf"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "CHATBOT_PARALLEL": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        # `models list` and `rm` ask the configured server what it has loaded: none runs here.
        "CHATBOT_URL": f"http://127.0.0.1:{free_port()}",
    }
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("HF_TOKEN", None)
    env.update(extra)
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "models", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_pull_picks_q4_k_m_then_list_show_rm(hub: Hub, models_dir: Path, gguf: bytes) -> None:
    code, out, err = cli(hub, "pull", "acme/Tiny-Chat-GGUF", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["id"] == "tiny-chat:q4_k_m"
    [path] = summary["files"]
    assert Path(path).read_bytes() == gguf
    assert Path(path).is_relative_to(models_dir)
    assert summary["sha256"] == {"tiny-chat-Q4_K_M.gguf": hashlib.sha256(gguf).hexdigest()}
    manifest = json.loads((models_dir / "manifest.json").read_text())
    assert [m["id"] for m in manifest["models"]] == ["tiny-chat:q4_k_m"]
    assert hub.sent("tiny-chat-Q8_0.gguf") == []

    code, out, err = cli(hub, "list", "--json")
    assert code == 0, err
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["tiny-chat:q4_k_m"]["quantisation"] == "q4_k_m"
    assert rows["tiny-chat:q4_k_m"]["size_bytes"] == len(gguf)
    assert rows["tiny-chat:q4_k_m"]["context_length"] == 2048
    assert rows["tiny-chat:q4_k_m"]["parameters"] == 130_368  # tests/test_models_store.py
    assert rows["default"]["parameters"] == 134_515_008  # SmolLM2-135M
    assert "default" in rows  # the embedded model is listed beside the pulled ones
    code, out, err = cli(hub, "show", "default", "--json")
    assert code == 0 and json.loads(out)["source"] == "embedded"

    code, out, err = cli(hub, "show", "tiny-chat:q4_k_m", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["metadata"]["general.architecture"] == "llama"
    assert shown["source"] == "acme/Tiny-Chat-GGUF"
    assert shown["parameters"] == 130_368
    code, out, err = cli(hub, "show", "tiny-chat:q4_k_m")
    assert code == 0 and "\nparameters: 130.4K (130368)\n" in out, err

    assert cli(hub, "rm", "tiny-chat:q4_k_m")[0] == 0
    assert not Path(path).exists()
    code, _, err = cli(hub, "show", "tiny-chat:q4_k_m")
    assert code == 5 and err.count("\n") == 1


def test_no_q4_k_m_lists_the_choices(hub: Hub) -> None:
    code, out, err = cli(hub, "pull", "acme/only-q8")
    assert code == 2 and out == ""
    assert "acme/only-q8:F16" in err and "acme/only-q8:Q8_0" in err and err.count("\n") == 1


def test_quant_is_case_insensitive_and_as_names_it(hub: Hub) -> None:
    code, out, err = cli(hub, "pull", "acme/only-q8:q8_0", "--as", "mine", "--json")
    assert code == 0, err
    assert json.loads(out)["id"] == "mine"
    assert len(hub.sent("only-Q8_0.gguf")) == 1


def test_file_form_and_unknowns(hub: Hub) -> None:
    code, out, err = cli(hub, "pull", "acme/only-q8/only-F16.gguf", "--json")
    assert code == 0, err
    assert json.loads(out)["id"] == "only:f16"
    code, _, err = cli(hub, "pull", "acme/only-q8/nope.gguf")
    assert code == 5 and "only-F16.gguf" in err
    code, _, err = cli(hub, "pull", "acme/missing")
    assert code == 5 and "acme/missing" in err and err.count("\n") == 1


def test_split_gguf_fetches_every_part(hub: Hub, gguf: bytes) -> None:
    hub.repos["acme/split"]["big-Q4_K_M-00002-of-00002.gguf"] = gguf
    code, out, err = cli(hub, "pull", "acme/split", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["id"] == "split:q4_k_m"
    assert [Path(f).name for f in summary["files"]] == [
        "big-Q4_K_M-00001-of-00002.gguf",
        "big-Q4_K_M-00002-of-00002.gguf",
    ]
    assert summary["size_bytes"] == 2 * len(gguf)


def test_interrupted_hub_download_resumes_where_it_stopped(hub: Hub, gguf: bytes) -> None:
    # huggingface_hub writes in 10 MiB chunks: a resume starts after the last whole chunk.
    chunk = 10 * 1024 * 1024
    big = gguf + bytes(12 * 1024 * 1024)
    hub.repos["acme/big"] = {"big-Q4_K_M.gguf": big}
    hub.cut_after["big-Q4_K_M.gguf"] = chunk + 300_000
    code, out, err = cli(hub, "pull", "acme/big", "--json")
    assert code == 0, err
    # The first GET broke off; the retry asked only for the bytes not yet on disk.
    assert hub.sent("big-Q4_K_M.gguf") == [
        (None, chunk + 300_000),
        (f"bytes={chunk}-", len(big) - chunk),
    ]
    assert Path(json.loads(out)["files"][0]).read_bytes() == big


def test_a_wrong_published_sha256_removes_the_file(hub: Hub, models_dir: Path) -> None:
    hub.published[("acme/Tiny-Chat-GGUF", "tiny-chat-Q4_K_M.gguf")] = "0" * 64
    code, out, err = cli(hub, "pull", "acme/Tiny-Chat-GGUF")
    assert code == 1 and "sha256" in err and err.count("\n") == 1
    assert not list(models_dir.rglob("*.gguf"))
    assert not (models_dir / "manifest.json").exists()


def test_a_non_gguf_file_is_refused_and_removed(hub: Hub, models_dir: Path) -> None:
    hub.repos["acme/fake"] = {"fake-Q4_K_M.gguf": b"<html>not a model</html>" * 100}
    code, _, err = cli(hub, "pull", "acme/fake")
    assert code == 1 and "not a GGUF" in err and "Removed" in err
    assert not list(models_dir.rglob("*.gguf"))


def test_url_form_resumes_after_an_interruption(hub: Hub, gguf: bytes, models_dir: Path) -> None:
    hub.repos["files"] = {"Other-Model.Q4_0.gguf": gguf}
    hub.cut_after["Other-Model.Q4_0.gguf"] = 200_000
    url = f"{hub.url}/files/Other-Model.Q4_0.gguf"
    code, _, err = cli(hub, "pull", url)
    assert code == 3 and "resume" in err
    part = models_dir / "other-model--q4_0" / "Other-Model.Q4_0.gguf.part"
    assert part.stat().st_size == 200_000
    code, out, err = cli(hub, "pull", url, "--json")
    assert code == 0, err
    assert hub.sent("Other-Model.Q4_0.gguf") == [
        (None, 200_000),
        ("bytes=200000-", len(gguf) - 200_000),
    ]
    summary = json.loads(out)
    assert summary["id"] == "other-model:q4_0"
    assert Path(summary["files"][0]).read_bytes() == gguf
    assert not part.exists()
    # Hashed while downloading, the part already on disk first: the digest of the whole file.
    assert summary["sha256"] == {"Other-Model.Q4_0.gguf": hashlib.sha256(gguf).hexdigest()}


def test_url_form_refuses_a_non_gguf_file(hub: Hub, models_dir: Path) -> None:
    hub.repos["files"] = {"page.gguf": b"<html></html>"}
    code, _, err = cli(hub, "pull", f"{hub.url}/files/page.gguf")
    assert code == 1 and "not a GGUF" in err
    assert not list(models_dir.rglob("page.gguf*"))


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["pull", "acme/../etc"], 2),
        (["pull", "acme/Tiny-Chat-GGUF", "--as", "../x"], 2),
        (["pull", "acme/Tiny-Chat-GGUF", "--as", "a/b"], 2),
        (["pull", "acme/only-q8/../x.gguf"], 2),
        (["pull", "nothing"], 2),
        (["pull", "acme/only-q8", "--as", "default"], 2),
        (["pull", "acme/only-q8:Q8_0/x"], 2),
        (["rm", "default"], 2),
        (["rm", "nope"], 5),
        (["rm", "../x"], 2),
    ],
)
def test_bad_input_is_one_line(hub: Hub, args: list[str], code: int) -> None:
    got, out, err = cli(hub, *args)
    assert (got, out) == (code, "")
    assert err.startswith("Error: ") and err.count("\n") == 1


def test_in_a_pipe_pull_prints_one_line_and_no_progress(hub: Hub) -> None:
    code, out, err = cli(hub, "pull", "acme/only-q8:Q8_0")
    assert (code, err) == (0, "")
    assert out == "Pulled only-q8:q8_0 (519.2 KB)\n"


def test_offline_mode_is_honoured(hub: Hub) -> None:
    code, _, err = cli(hub, "pull", "acme/Tiny-Chat-GGUF", HF_HUB_OFFLINE="1")
    assert code == 3 and "HF_HUB_OFFLINE" in err
    assert hub.log == []


def test_progress_reports_every_byte(hub: Hub, gguf: bytes, tmp_path: Path) -> None:
    from chatbot_cli.models_store import Store
    from chatbot_cli.pull import pull

    hub.repos["files"] = {"m-Q8_0.gguf": gguf}
    seen: list[tuple[str, int | None, int]] = []
    advanced: list[int] = []

    def start(name: str, total: int | None, done: int):  # type: ignore[no-untyped-def]
        seen.append((name, total, done))
        return advanced.append

    entry = pull(Store(tmp_path / "store"), f"{hub.url}/files/m-Q8_0.gguf", progress=start)
    assert entry.id == "m:q8_0"
    assert seen == [("m-Q8_0.gguf", len(gguf), 0)]
    assert sum(advanced) == len(gguf)


def test_a_damaged_model_is_listed_with_its_error(hub: Hub) -> None:
    code, out, err = cli(hub, "pull", "acme/only-q8:F16", "--json")
    assert code == 0, err
    Path(json.loads(out)["files"][0]).unlink()
    code, out, err = cli(hub, "list", "--json")
    assert code == 0, err
    [row] = [r for r in json.loads(out) if r["id"] == "only-q8:f16"]
    assert "Cannot read model file" in row["error"]


def test_on_a_terminal_progress_shows_and_ctrl_c_leaves_a_resumable_pull(
    hub: Hub, gguf: bytes, models_dir: Path
) -> None:
    import pexpect

    chunk = 10 * 1024 * 1024
    big = gguf + bytes(12 * 1024 * 1024)
    hub.repos["acme/big"] = {"big-Q4_K_M.gguf": big}
    hub.stall_after["big-Q4_K_M.gguf"] = chunk + 300_000
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(models_dir.parent / "hf"),
        "NO_PROXY": "127.0.0.1,localhost",
        "TERM": "xterm",
        "COLUMNS": "120",
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "chatbot_cli", "models", "pull", "acme/big"],
        env=env,
        cwd=str(ROOT),
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(24, 120),
        timeout=60,
    )
    # The bar shows bytes done of the total while the hub stalls mid-file.
    child.expect(r"10\.5/1\d\.\d MB")
    # The bar moves just before the chunk is written: wait for the file.
    deadline = time.monotonic() + 20
    while [p.stat().st_size for p in models_dir.rglob("*.part")] != [chunk]:
        assert time.monotonic() < deadline, list(models_dir.rglob("*"))
        time.sleep(0.05)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "run the same pull again to resume" in str(child.before)
    assert not (models_dir / "manifest.json").exists()

    hub.release.set()
    code, out, err = cli(hub, "pull", "acme/big", "--json")
    assert code == 0, err
    # The second pull asked only for what the first did not write.
    assert hub.sent("big-Q4_K_M.gguf") == [
        (None, chunk + 300_000),
        (f"bytes={chunk}-", len(big) - chunk),
    ]
    assert Path(json.loads(out)["files"][0]).read_bytes() == big


def test_the_library_download_function_we_use_keeps_its_signature() -> None:
    """pull.py calls huggingface_hub.file_download.http_get, which the package does not export
    at the top level: pyproject bounds the version, and this fails when the function changes."""
    import inspect

    from huggingface_hub.file_download import http_get

    params = inspect.signature(http_get).parameters
    for name in ("resume_size", "headers", "expected_size", "displayed_filename", "tqdm_class"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    assert list(params)[:2] == ["url", "temp_file"]


def test_not_enough_disk_space_takes_no_file(
    hub: Hub, gguf: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    from collections import namedtuple

    from chatbot_cli import pull as pull_module
    from chatbot_cli.errors import ChatbotError
    from chatbot_cli.models_store import Store

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - 1000, 1000))
    hub.repos["files"] = {"m-Q8_0.gguf": gguf}
    store = Store(tmp_path / "store")
    with pytest.raises(ChatbotError, match="Not enough disk space"):
        pull_module.pull(store, f"{hub.url}/files/m-Q8_0.gguf")
    assert not list(store.root.rglob("*.gguf*"))
    assert store.entries() == []


def test_pulling_again_downloads_nothing(hub: Hub) -> None:
    assert cli(hub, "pull", "acme/only-q8:Q8_0")[0] == 0
    code, out, err = cli(hub, "pull", "acme/only-q8:Q8_0", "--json")
    assert code == 0, err
    assert len(hub.sent("only-Q8_0.gguf")) == 1


def test_hf_token_is_sent_and_a_gated_repo_without_it_is_exit_4(hub: Hub) -> None:
    hub.gated["acme/only-q8"] = "hf_secret"
    code, _, err = cli(hub, "pull", "acme/only-q8:Q8_0")
    assert code == 4 and "HF_TOKEN" in err and err.count("\n") == 1
    hub.auth.clear()
    code, _, err = cli(hub, "pull", "acme/only-q8:Q8_0", HF_TOKEN="hf_secret")
    assert code == 0, err
    # The file list, the HEAD and the GET all carried the token.
    assert len(hub.auth) == 3 and set(hub.auth) == {"Bearer hf_secret"}
