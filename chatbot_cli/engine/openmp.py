"""How long llama.cpp's threads spin before they sleep: libgomp's `GOMP_SPINCOUNT`.

xllamacpp's llama.cpp is an OpenMP (libgomp) build: between the operations of a graph (hundreds
a token) its threads meet at a barrier, where each spins for a while and then sleeps in the
kernel. libgomp's default spin (300 000 iterations, milliseconds) costs nothing on idle cores but
burns whole time slices when the cores are busy (other processes, or a second model decoding in
another process), waiting for a partner thread that cannot run. A short spin covers a barrier's
usual wait all the same. libgomp reads the variable once, when it is loaded (by the first
`import xllamacpp`); a value the user set wins. Measured in docs/design.md, "Several models".
"""

from __future__ import annotations

import os
from typing import Any

VAR = "GOMP_SPINCOUNT"
SPIN_COUNT = "1000"


def spin_env() -> dict[str, str]:
    """The environment for a process that will load llama.cpp (a model's worker process)."""
    return {**os.environ, VAR: os.environ.get(VAR, SPIN_COUNT)}


def import_xllamacpp() -> Any:
    """`xllamacpp`, loaded with our spin count. The variable is set only around the import, so
    processes started later (a reference llama.cpp in the bench) keep libgomp's default."""
    if VAR in os.environ:
        import xllamacpp

        return xllamacpp
    os.environ[VAR] = SPIN_COUNT
    try:
        import xllamacpp
    finally:
        os.environ.pop(VAR, None)
    return xllamacpp
