"""The Node set-up's own rules: skipped without node unless CI=true, a cache per pin set and Node
version, and the SQLite copy's edits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.prisma import nodeenv


def test_without_node_skips_or_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodeenv.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="node and npm"):
        nodeenv.require_node()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        nodeenv.require_node()


def test_cache_key_follows_the_pins_and_node(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in nodeenv.PINNED:
        (tmp_path / name).write_text("{}")
    monkeypatch.setattr(nodeenv, "PACKAGE_DIR", tmp_path)
    monkeypatch.setattr(nodeenv, "_node_version", lambda node: "v20.0.0\n")
    first = nodeenv._key("node")
    (tmp_path / "package-lock.json").write_text('{"changed": true}')
    second = nodeenv._key("node")
    monkeypatch.setattr(nodeenv, "_node_version", lambda node: "v22.0.0\n")
    assert len({first, second, nodeenv._key("node")}) == 3


def test_sqlite_copy_edits() -> None:
    lines = """\
  provider = "postgresql"
  id Int @id(map: "pk_todos") @default(autoincrement())
  owner String @default("default") @db.VarChar(64)
  at DateTime @db.Timestamptz(6)
  n Int @default(0) @db.SmallInt
  todo Todo @relation(fields: [todoId], references: [id], onDelete: Cascade, map: "fk_x")
  @@id([todoId, tag], map: "pk_todo_tags")
  @@index([owner, id], map: "ix_todos_owner_id")
"""
    out = subprocess.run(
        ["sh", "-c", nodeenv.SQLITE_SED], input=lines, capture_output=True, text=True, check=True
    ).stdout
    assert (
        out
        == """\
  provider = "sqlite"
  id Int @id @default(autoincrement())
  owner String @default("default")
  at DateTime
  n Int @default(0)
  todo Todo @relation(fields: [todoId], references: [id], onDelete: Cascade)
  @@id([todoId, tag])
  @@index([owner, id], map: "ix_todos_owner_id")
"""
    )
