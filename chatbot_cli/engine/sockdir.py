"""The private directory of llama.cpp's own listener socket (see engine/llamacpp.py `_load`).

xllamacpp always opens llama.cpp's HTTP listener; ours is a unix socket in a directory named after
the engine's process, so a directory left behind by a process that died without closing can be
told apart and removed by the next engine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

SOCK_PREFIX = "chatbot-engine-"


def sweep_stale(base: str) -> None:
    """Remove socket dirs left by engines whose process died without closing (kill -9): the
    pid is in the name, so a dir whose process is gone is safe to delete."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(SOCK_PREFIX):
            continue
        pid = name[len(SOCK_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        path = os.path.join(base, name)
        with contextlib.suppress(OSError):
            if os.stat(path).st_uid == os.getuid():
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def short_tmp() -> str:
    # A unix socket path is limited to 107 bytes; a deep TMPDIR would make bind() fail.
    base = tempfile.gettempdir()
    return base if len(base) < 60 and os.access(base, os.W_OK) else "/tmp"
