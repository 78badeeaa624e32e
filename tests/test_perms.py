"""The data dir is 0700 and its files 0600 whatever the umask (issue 22, item 5)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot_cli.perms import private_dir, private_file, private_sqlite


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_private_dir_and_file_under_umask_022(tmp_path: Path, umask_022: None) -> None:
    data = private_dir(tmp_path / "a" / "data")
    assert mode(data) == 0o700
    assert mode(tmp_path / "a") == 0o755  # parents are the user's business
    assert mode(private_file(data / "history")) == 0o600


def test_existing_files_are_narrowed_and_kept(tmp_path: Path, umask_022: None) -> None:
    old = tmp_path / "chatbot.db"
    old.write_bytes(b"kept")
    os.chmod(old, 0o644)
    private_file(old)
    assert mode(old) == 0o600 and old.read_bytes() == b"kept"


def test_an_existing_dir_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    assert mode(private_dir(shared)) == 0o755


def test_private_sqlite_narrows_side_files_of_earlier_versions(
    tmp_path: Path, umask_022: None
) -> None:
    db = tmp_path / "data" / "chatbot.db"
    db.parent.mkdir()
    for name in ("chatbot.db", "chatbot.db-wal", "chatbot.db-shm"):
        (db.parent / name).write_bytes(b"")
        os.chmod(db.parent / name, 0o644)
    private_sqlite(db)
    assert [mode(db.parent / n) for n in ("chatbot.db", "chatbot.db-wal", "chatbot.db-shm")] == [
        0o600
    ] * 3
