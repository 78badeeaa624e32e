"""The llama.cpp backend's lifecycle: who holds the xllamacpp server and when it may be dropped.

Dropping the last reference is the only way to stop a server, and its destructor runs with the
GIL held: a drop at the wrong moment froze the whole test process beyond pytest-timeout's reach.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from chatbot_cli.config import load_settings
from chatbot_cli.errors import EngineFailure, InvalidRequest
from tests.engine.test_llamacpp import backend, collect, running


def test_close_frees_llamacpp_after_a_request_it_refused(tiny_model: Path) -> None:
    """A refused request leaves an exception whose traceback holds the worker thread's frame in
    a reference cycle: that frame must not keep llama.cpp (threads, memory, socket) alive after
    close(), to be freed by some later garbage collection on whatever thread runs it."""

    async def scenario() -> str:
        async with running(tiny_model) as engine:
            assert engine._sock_dir is not None
            sock = str(engine._sock_dir / "engine.sock")
            assert sock in _unix_socket_paths()
            with pytest.raises(InvalidRequest):
                await collect(engine, messages=[{"role": "user", "content": 3}])
        return sock

    gc.disable()  # what close() frees must not depend on when the cycle collector runs
    try:
        sock = asyncio.run(scenario())
        assert sock not in _unix_socket_paths()
    finally:
        gc.enable()


def test_close_during_start_drops_the_server_once_it_can(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() while the model loads (the model manager closes a backend whose start() was
    cancelled): the new server is dropped only once its task loop runs (dropped sooner it would
    never stop), start() says the engine was closed, and nothing of the server is left."""
    from chatbot_cli.engine import llamacpp

    base = tempfile.mkdtemp(prefix="eng-", dir="/tmp")  # short: a socket path has a byte limit
    monkeypatch.setattr(llamacpp, "_short_tmp", lambda: base)

    async def scenario() -> None:
        engine = backend(load_settings(model=str(tiny_model), warmup=False))
        starting = asyncio.create_task(engine.start())
        await asyncio.sleep(0)  # start() now loads in its thread
        await engine.close()
        with pytest.raises(EngineFailure, match="closed while its model loaded"):
            await starting
        assert engine._server is None
        with pytest.raises(EngineFailure):
            await collect(engine, max_tokens=1)

    try:
        asyncio.run(scenario())
        assert os.listdir(base) == []
        assert not [path for path in _unix_socket_paths() if path.startswith(base)]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_close_while_the_server_binds_leaves_the_loading_thread_its_socket_dir(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() arriving while llama.cpp binds its socket must not remove the directory under it:
    its removal could then find the new socket, fail to remove the directory, and leave it. The
    loading thread owns the directory until it publishes it with the server, and removes it."""
    from chatbot_cli.engine import llamacpp

    base = tempfile.mkdtemp(prefix="eng-", dir="/tmp")
    monkeypatch.setattr(llamacpp, "_short_tmp", lambda: base)
    real = llamacpp.import_xllamacpp()
    engine = backend(load_settings(model=str(tiny_model), warmup=False))
    dir_kept: list[bool] = []

    class Binding:
        """The module, except that close() arrives as each server is being made."""

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def Server(self, params: object) -> object:  # noqa: N802 - the module's own name
            engine._shutdown()
            dir_kept.append(Path(params.hostnames[0]).parent.is_dir())  # type: ignore[attr-defined]
            return real.Server(params)

    monkeypatch.setattr(llamacpp, "import_xllamacpp", Binding)
    try:
        with pytest.raises(EngineFailure, match="closed while its model loaded"):
            asyncio.run(engine.start())
        assert dir_kept and all(dir_kept)
        assert engine._server is None and engine._sock_dir is None
        assert os.listdir(base) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_an_engine_closed_right_after_start_stops(tiny_model: Path) -> None:
    """llama.cpp's task loop starts just after `Server()` returns, and a server dropped before
    then never stopped: close() waited forever holding the GIL, so the whole process froze out
    of pytest-timeout's reach. Hence a child process, pinned to one CPU to widen that window."""
    script = textwrap.dedent(
        f"""
        import asyncio, faulthandler, os
        from chatbot_cli.config import load_settings
        from chatbot_cli.engine.llamacpp import LlamaCppEngine
        from chatbot_cli.engine.models import local_model

        os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}})
        faulthandler.dump_traceback_later(90, exit=True)

        async def main():
            for _ in range(10):
                settings = load_settings(model={str(tiny_model)!r}, warmup=False)
                engine = LlamaCppEngine(settings, local_model(settings)[0])
                await engine.start()
                await engine.close()
            print("closed 10 engines", flush=True)

        asyncio.run(main())
        """
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=100, cwd=root
    )
    assert "closed 10 engines" in proc.stdout, proc.stderr[-3000:]


def _unix_socket_paths() -> set[str]:
    lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    return {fields[7] for fields in map(str.split, lines) if len(fields) > 7}
