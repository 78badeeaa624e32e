"""libgomp's spin count: set for the import that loads libgomp, and for worker processes, never
leaked to other processes, and never over a value the user set."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from chatbot_cli.engine.openmp import SPIN_COUNT, VAR, spin_env


def test_spin_env_gives_ours_unless_the_user_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    assert spin_env()[VAR] == SPIN_COUNT
    monkeypatch.setenv(VAR, "5")
    assert spin_env()[VAR] == "5"


@pytest.mark.parametrize(("user", "seen"), [(None, SPIN_COUNT), ("7", "7")])
def test_libgomp_loads_with_the_spin_count_during_the_import(user: str | None, seen: str) -> None:
    # A fresh process: libgomp reads the variable once, when xllamacpp's import loads it.
    code = textwrap.dedent(
        f"""
        import os, sys
        os.environ.pop({VAR!r}, None)
        if {user!r} is not None:
            os.environ[{VAR!r}] = {user!r}
        seen = []

        class Recorder:
            @staticmethod
            def find_spec(name, path=None, target=None):
                if name == "xllamacpp":
                    seen.append(os.environ.get({VAR!r}))
                return None

        sys.meta_path.insert(0, Recorder)
        from chatbot_cli.engine.openmp import import_xllamacpp
        maps = lambda: "libgomp" in open("/proc/self/maps").read()
        before = maps()
        import_xllamacpp()
        print(seen[0], before, maps(), os.environ.get({VAR!r}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [seen, "False", "True", str(user)]
