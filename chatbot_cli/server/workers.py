"""Worker processes of `chatbot serve --workers N` end when their supervisor dies.

uvicorn's workers share the supervisor's listening socket. If the supervisor is killed outright
(kill -9, the OOM killer, a test fixture's last resort), nothing tells them: they are re-parented
and keep serving on the port forever, and a new supervisor cannot bind it. So each worker asks
the kernel for SIGTERM when its parent dies (Linux's PR_SET_PDEATHSIG), or, where that is not
available, watches its parent id from a thread. SIGTERM is the ordinary graceful shutdown: open
requests get `--graceful-timeout`, then the worker exits.

The parent may die before the hook is in place (a worker takes a second or two to start): the
supervisor passes its pid in `CHATBOT_SUPERVISOR_PID`, and a worker whose parent is already
someone else exits at once.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("chatbot.server")

ENV = "CHATBOT_SUPERVISOR_PID"
FACTORY = "chatbot_cli.server.workers:worker_app"
PR_SET_PDEATHSIG = 1
WATCH_INTERVAL = 0.5


def worker_app() -> FastAPI:
    """The app factory uvicorn's worker processes call: tie the worker to its supervisor first."""
    exit_with_supervisor()
    from chatbot_cli.server.app import app_from_env

    return app_from_env()


def exit_with_supervisor() -> None:
    value = os.environ.get(ENV)
    if not value:
        return  # not started by `chatbot serve --workers`
    supervisor = int(value)
    if not _parent_death_signal(signal.SIGTERM):
        threading.Thread(
            target=_watch, args=(supervisor,), name="supervisor-watch", daemon=True
        ).start()
    # Checked after the hook is set, so a death at any moment is caught by one or the other.
    if os.getppid() != supervisor:
        log.error("supervisor %d is gone: worker %d exits", supervisor, os.getpid())
        os._exit(1)  # nothing has started yet: there is nothing to shut down


def _parent_death_signal(sig: int) -> bool:
    """Ask the kernel to send `sig` when the parent dies; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(WATCH_INTERVAL)
    log.error("supervisor %d is gone: worker %d shuts down", supervisor, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
