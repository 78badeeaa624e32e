"""A loaded model served by a child process (`engine/worker_main.py`), for every model loaded
while another llama.cpp model is already loaded in the server's own process.

Why a process: xllamacpp's llama.cpp is built with OpenMP (libgomp). Between two operations of a
graph its threads wait at a barrier, spinning first and sleeping in the kernel after; libgomp
spins only while the process has no more OpenMP threads than CPUs. A second model's thread pool,
even idle, tips the count over, and every barrier of the model in use then sleeps and wakes:
decoding ran at less than half the speed (docs/design.md, "Several models"). A process of its
own gives each model its own count. Streams and errors cross a socket pair as pickles; the
child runs the ordinary `LlamaCppEngine`, so settings, warm-up and error mapping are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from chatbot_cli.engine.base import Chunk, GenerationRequest, ModelInfo
from chatbot_cli.engine.models import find_model
from chatbot_cli.engine.openmp import spin_env
from chatbot_cli.engine.scheduler import GatedEngine, SlotGate
from chatbot_cli.errors import ConfigError, EngineFailure, ModelStopped

if TYPE_CHECKING:
    from chatbot_cli.config import Settings

# How long close() gives the child to stop its generations and free its model before killing it.
STOP_TIMEOUT = 30.0
# How long the reader waits, once the child's end of the socket closed, for its exit status.
REAP_TIMEOUT = 5.0
CLOSED_WHILE_LOADING = "The engine was closed while its model loaded"
_Stream = tuple[asyncio.Queue[Any], float]


class WorkerEngine(GatedEngine):
    def __init__(self, settings: Settings, model: ModelInfo) -> None:
        self._settings = settings
        self._model = model
        # Admission happens here, so stats() and the wait queue behave as in-process; a slot is
        # released when the child reports its generation over, so the child never queues.
        self._gate = SlotGate(settings.parallel, settings.queue_size)
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._streams: dict[int, _Stream] = {}
        self._ids = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._dead = False
        # How the child ended on its own (killed, crashed): set once, and never after close().
        self._exit_reason: str | None = None
        self._on_exit: Callable[[str], None] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise EngineFailure("The engine has been closed")
        ours, theirs = socket.socketpair()
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "chatbot_cli.engine.worker_main", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=spin_env(),
            )
        self._conn = conn = Connection(ours.detach())
        try:
            # A cancelled generation reports its end at once but holds the child's slot until
            # its next token: room to queue there, so the child never refuses what we admitted.
            queue = self._settings.parallel + self._settings.queue_size
            conn.send((self._settings.model_copy(update={"queue_size": queue}), self._model))
            reply = await asyncio.to_thread(conn.recv)
        except (EOFError, OSError):
            reply = None
        if reply is not None and reply[0] == "ready":
            self._loop = asyncio.get_running_loop()
            threading.Thread(target=self._read, name="chatbot-worker-read", daemon=True).start()
            return
        closed = self._closed
        await self.close()
        if closed:
            raise EngineFailure(CLOSED_WHILE_LOADING)
        if reply is None:
            code = self._proc.returncode
            raise ConfigError(
                f"Could not load model {self._model.path}: its worker process ended ({code})"
            )
        raise reply[1]

    def _shutdown(self) -> None:
        """Ask the child to stop (it ends its generations and frees its model), wait, and kill it
        if it does not exit in time."""
        self._send(("close",))
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._conn is not None:
            self._conn.close()

    def on_exit(self, callback: Callable[[str], None]) -> None:
        """`base.Exits`: the manager unloads the model the moment its child dies."""
        self._on_exit = callback
        if self._exit_reason is not None and self._loop is not None:
            self._loop.call_soon(callback, self._exit_reason)

    def _stopped(self) -> ModelStopped:
        return ModelStopped(
            f"The model '{self._model.id}' stopped ({self._exit_reason}); "
            "the next request loads it again.",
            retry_after=1,
        )

    def _send(self, msg: tuple[Any, ...]) -> bool:
        conn = self._conn
        if conn is None or self._dead:
            return False
        try:
            # Generations send from the event loop, close() from a thread.
            with self._send_lock:
                conn.send(msg)
        except (OSError, ValueError):  # the child is gone, or close() closed the socket
            return False
        return True

    # --- the child's messages ------------------------------------------------------------

    def _read(self) -> None:
        conn, loop = self._conn, self._loop
        assert conn is not None and loop is not None
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                # The child exited (or close() closed our end): its status says how, for the
                # log and the clients whose requests it ends. Waited for here, off the loop.
                msg = ("exit", self._reap())
            try:
                loop.call_soon_threadsafe(self._dispatch, msg)
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                return
            if msg[0] == "exit":
                return

    def _reap(self) -> str:
        proc = self._proc
        assert proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(REAP_TIMEOUT)
        code = proc.returncode
        if code is None:
            return "its worker process closed its connection"
        if code < 0:
            try:
                return f"its worker process was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"its worker process was killed by signal {-code}"
        return f"its worker process exited with status {code}"

    def _dispatch(self, msg: tuple[Any, ...]) -> None:
        if msg[0] == "exit":  # every stream is over
            self._dead = True
            if self._closed:  # we asked it to stop: its streams end as "shutting down"
                for rid in list(self._streams):
                    self._end(rid, None)
                return
            self._exit_reason = msg[1]
            for rid in list(self._streams):
                self._end(rid, ("error", rid, self._stopped()))
            self._gate.cancel_waiters(self._stopped())
            if self._on_exit is not None:
                self._on_exit(msg[1])
            return
        if msg[0] == "chunk":
            stream = self._streams.get(msg[1])
            if stream is not None:
                stream[0].put_nowait(msg)
        else:
            self._end(msg[1], msg)

    def _end(self, rid: int, msg: tuple[Any, ...] | None) -> None:
        stream = self._streams.pop(rid, None)
        if stream is not None:
            self._gate.release(stream[1])
            stream[0].put_nowait(msg)

    # --- generation ----------------------------------------------------------------------

    async def stream(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        find_model(model, self.models)
        if self._exit_reason is not None and not self._closed:
            raise self._stopped()
        if self._closed or self._dead or self._loop is None:
            raise EngineFailure("The engine is not running")
        granted = await self._gate.acquire()
        rid = next(self._ids)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._streams[rid] = (queue, granted)
        over = False
        try:
            if not self._send(("gen", rid, request)):
                self._end(rid, None)
            while True:
                msg = await queue.get()
                if msg is None:
                    over = True
                    if self._closed:
                        raise EngineFailure(
                            "Generation was interrupted: the server is shutting down"
                        )
                    if self._exit_reason is not None:
                        raise self._stopped()
                    raise EngineFailure("Generation ended unexpectedly: the model's process ended")
                if msg[0] == "chunk":
                    yield msg[2]
                    continue
                over = True
                if msg[0] == "error":
                    raise msg[2]
                return
        finally:
            # Closed early: the child stops the generation and reports its slot free.
            if not over and rid in self._streams and not self._send(("cancel", rid)):
                self._end(rid, None)
