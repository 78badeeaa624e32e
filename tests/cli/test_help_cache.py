"""`chatbot --help` piped comes from a cache only while nothing it depends on has changed, and
is then exactly what typer prints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer

from chatbot_cli.cli import app as app_module
from chatbot_cli.cli import help_cache
from tests.cli.test_todo import subprocess_cli


def test_cached_help_is_what_typer_prints(isolated_env: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    # A cache home that is a file: nothing can be stored, so typer prints every time.
    uncached = subprocess_cli({**os.environ, "XDG_CACHE_HOME": str(blocked)}, "--help")
    assert uncached.returncode == 0 and uncached.stdout.startswith("Usage: ")
    assert "Commands:" in uncached.stdout and uncached.stderr == ""
    first, second = (
        subprocess_cli(dict(os.environ), "--help"),
        subprocess_cli(dict(os.environ), "--help"),
    )
    assert list((isolated_env / "xdg-cache" / "chatbot").glob("help-*.txt"))
    for run in (first, second):
        assert (run.returncode, run.stdout, run.stderr) == (0, uncached.stdout, "")
    assert subprocess_cli(dict(os.environ), "-h").stdout == uncached.stdout


def test_another_width_is_another_entry(isolated_env: Path) -> None:
    wide = subprocess_cli({**os.environ, "COLUMNS": "200"}, "--help")
    narrow = subprocess_cli({**os.environ, "COLUMNS": "60"}, "--help")
    again = subprocess_cli({**os.environ, "COLUMNS": "60"}, "--help")
    assert narrow.stdout == again.stdout != wide.stdout
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 60


def test_key_names_what_the_help_is_built_from(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = help_cache.key(["--help"]).splitlines()
    for path in (Path(app_module.__file__).resolve(), Path(help_cache.__file__).resolve()):
        assert help_cache._stamp(str(path)) in lines
    assert any(line.startswith(str(typer.__file__) + ":") for line in lines)
    assert help_cache.key(["--help"]) != help_cache.key(["-h"])
    before = help_cache.key(["--help"])
    monkeypatch.setenv("COLUMNS", "61")
    assert help_cache.key(["--help"]) != before


def test_a_stale_entry_is_not_used(isolated_env: Path) -> None:
    key = help_cache.key(["--help"])
    help_cache.store(key, "fresh\n")
    assert help_cache.cached(key) == "fresh\n"
    path = help_cache._file(key)
    path.write_text("another key\n\n\nstale\n", encoding="utf-8")
    assert help_cache.cached(key) is None
