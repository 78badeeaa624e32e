"""A pull that runs out of disk (pull.py, models_store.Store.downloading): one line naming the
device's models_dir and the part file kept, exit 1, and the same pull resumes once there is
room; a failed pull leaves no empty model directory. The full disk is a writer that raises
ENOSPC after ROOM bytes (and splice(2) into it likewise), not a real file system."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hubserver import Hub
from tests.tinymodel import write_tiny_model

ROOT = Path(__file__).resolve().parents[1]
ROOM = 1000

# Runs `chatbot` with every write to a `.part` file failing with ENOSPC after ROOM bytes.
FULL_DISK = """
import errno, os, pathlib, runpy, stat, sys

ROOM = int(sys.argv.pop(1))
_open = pathlib.Path.open


class Full:
    def __init__(self, fh):
        self.fh = fh

    def write(self, data):
        global ROOM
        if len(data) > ROOM:
            self.fh.write(bytes(data[:ROOM]))
            ROOM = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        ROOM -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def fake_open(self, mode="r", *args, **kwargs):
    fh = _open(self, mode, *args, **kwargs)
    writes = mode[0] in "aw" or "+" in mode
    return Full(fh) if self.name.endswith(".part") and writes else fh


_splice = os.splice


def fake_splice(src, dst, count, *args):
    # A body spliced into the part file fills the same disk.
    global ROOM
    if not stat.S_ISREG(os.fstat(dst).st_mode) or count <= ROOM:
        n = _splice(src, dst, count, *args)
        ROOM -= n if stat.S_ISREG(os.fstat(dst).st_mode) else 0
        return n
    if ROOM:
        ROOM -= _splice(src, dst, ROOM, *args)
    raise OSError(errno.ENOSPC, "No space left on device")


pathlib.Path.open = fake_open
os.splice = fake_splice
sys.argv[0] = "chatbot"
runpy.run_module("chatbot_cli", run_name="__main__")
"""


@pytest.fixture
def gguf(tmp_path: Path) -> bytes:
    return write_tiny_model(tmp_path / "t.gguf").read_bytes()


@pytest.fixture
def hub(gguf: bytes) -> Iterator[Hub]:
    with Hub() as h:
        h.repos["acme/Tiny-Chat-GGUF"] = {"tiny-chat-Q4_K_M.gguf": gguf}
        h.repos["files"] = {"m-Q8_0.gguf": gguf}
        yield h


def pull(hub: Hub, ref: str, *, room: int | None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(Path(os.environ["CHATBOT_DATA_DIR"]).parent / "hf"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env.pop("HF_HUB_OFFLINE", None)
    args = ["-c", FULL_DISK, str(room)] if room is not None else ["-m", "chatbot_cli"]
    return subprocess.run(
        [sys.executable, *args, "models", "pull", ref],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("form", "room"),
    # A URL's body past httpx's first read is spliced into the file: a disk that fills there.
    [("hub", ROOM), ("url", ROOM), ("url", 300_000)],
)
def test_a_full_disk_is_one_line_keeps_the_part_and_resumes(
    hub: Hub, gguf: bytes, isolated_env: Path, form: str, room: int
) -> None:
    ref = "acme/Tiny-Chat-GGUF" if form == "hub" else f"{hub.url}/files/m-Q8_0.gguf"
    name = "tiny-chat-Q4_K_M.gguf" if form == "hub" else "m-Q8_0.gguf"
    models_dir = isolated_env / "data" / "models"
    full = pull(hub, ref, room=room)
    assert full.returncode == 1, full.stderr
    line = full.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line and "Errno" not in line
    assert f"No space left on the device holding {models_dir}" in line
    (part,) = models_dir.rglob(f"{name}*.part")
    assert f"partial file {part} is kept" in line and "run the same pull again" in line
    assert part.stat().st_size == room

    again = pull(hub, ref, room=None)
    assert again.returncode == 0, again.stderr
    assert hub.sent(name)[-1] == (f"bytes={room}-", len(gguf) - room)
    assert (part.parent / name).read_bytes() == gguf and not part.exists()


def test_a_failed_pull_leaves_no_empty_model_directory(hub: Hub, isolated_env: Path) -> None:
    from chatbot_cli import pull as pull_module
    from chatbot_cli.errors import NotFound
    from chatbot_cli.models_store import Store

    store = Store(isolated_env / "store")
    with pytest.raises(NotFound):
        pull_module.pull(store, f"{hub.url}/files/missing-Q8_0.gguf")
    assert not store.root.exists() or not list(store.root.iterdir())


def test_other_write_errors_are_not_called_a_full_disk(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatbot_cli import pull as pull_module
    from chatbot_cli.models_store import Store

    _open = Path.open

    def read_only(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith(".part") and mode[0] in "aw":
            raise OSError(errno.EROFS, "Read-only file system")
        return _open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", read_only)
    store = Store(tmp_path / "store")
    with pytest.raises(OSError, match="Read-only"):
        pull_module.pull(store, f"{hub.url}/files/m-Q8_0.gguf")
    assert not list(store.root.iterdir())  # and its empty model directory is gone
