"""Figure 1's outside baseline: llama.cpp in-process at its own defaults, in a child process.

What a user who chats alone would get from llama.cpp itself: an xllamacpp `Server` given only the
model, `n_ctx` and the thread count (every other parameter llama.cpp's default: one slot, flash
attention on auto, f16 K cache, its host prompt cache), one request at a time, read through its
streaming callback on a worker thread. Our figure-1 sides are compared against it in the same
alternation, so the ratio covers everything we add: engine settings, the event loop, HTTP, SSE
and the SDK client.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import StreamResult

N_CTX = 2048


class DefaultsEngine:
    """One xllamacpp server at llama.cpp's defaults; `stream_once` runs one greedy request."""

    def __init__(self, model: Path, threads: int) -> None:
        self.model = model
        self.threads = threads
        self._server: Any = None

    def start(self) -> None:
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = str(self.model)
        params.n_ctx = N_CTX
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        # Its own HTTP listener (always opened) stays on loopback; nothing here talks to it.
        params.hostnames = ["127.0.0.1"]
        params.verbosity = -1
        self._server = xlc.Server(params)

    def close(self) -> None:
        self._server = None  # dropping the last reference stops its threads

    def _run(
        self, body: dict[str, Any], marks: list[float], counts: list[int], finish: list[str]
    ) -> Any:
        def on_chunk(chunk: dict[str, Any]) -> bool:
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if not marks:
                        marks.append(time.perf_counter())
                    counts[0] += 1
                    counts[1] += len(content)
                if choice.get("finish_reason"):
                    finish.append(choice["finish_reason"])
                    counts[2] = int((chunk.get("timings") or {}).get("predicted_n", 0))
            return False

        return self._server.handle_chat_completions(body, on_chunk)

    async def stream_once(self, text: str, max_tokens: int) -> StreamResult:
        body = {
            "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": True,
        }
        marks: list[float] = []
        finish: list[str] = []
        counts = [0, 0, 0]  # content deltas, characters, completion tokens from the timings
        start = time.perf_counter()
        # A plain thread, as our engine uses: the call blocks with the GIL released.
        result: list[Any] = []
        done = asyncio.get_running_loop().create_future()

        def work() -> None:
            try:
                result.append(self._run(body, marks, counts, finish))
            except Exception as exc:  # reported as a short stream
                result.append(exc)
            done.get_loop().call_soon_threadsafe(done.set_result, None)

        threading.Thread(target=work, name="llama-defaults", daemon=True).start()
        await done
        end = time.perf_counter()
        if isinstance(result[0], Exception) or (
            isinstance(result[0], dict) and "error" in result[0]
        ):
            return StreamResult(end - start, end - start, counts[0], None, counts[1], repr(result))
        tokens = counts[2] or counts[0]
        first = marks[0] if marks else end
        return StreamResult(
            first - start, end - start, tokens, finish[0] if finish else None, counts[1]
        )


def _child(conn: Any, model: str, threads: int) -> None:
    """The child process's loop: one `DefaultsEngine`, one stream per request on the pipe."""
    engine = DefaultsEngine(Path(model), threads)
    engine.start()
    conn.send("ready")
    while True:
        request = conn.recv()
        if request is None:
            break
        text, max_tokens = request
        conn.send(asyncio.run(engine.stream_once(text, max_tokens)))
    engine.close()


class ChildStreams:
    """Streams served by a loop in a process of its own: `target(conn, *args)` builds an engine,
    sends "ready", then answers each `(text, max_tokens)` on the pipe with a `StreamResult`
    (or a tuple starting with one) until it receives None. A second xllamacpp server loaded in
    one process slows the other's decoding even while it is idle (and `OMP_WAIT_POLICY=passive`
    slows both), and libgomp's spin is fixed when a process loads it, so each engine a figure
    compares gets its own process."""

    def __init__(self, what: str, target: Callable[..., None], *args: Any) -> None:
        self.what = what
        self._target = target
        self._args = args
        self._proc: Any = None
        self._conn: Any = None

    def start(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=self._target, args=(child, *self._args), daemon=True)
        self._proc.start()
        child.close()
        if not self._conn.poll(300) or self._conn.recv() != "ready":
            raise RuntimeError(f"{self.what} did not start")

    def close(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(OSError):  # the child may already be gone
            self._conn.send(None)
        self._proc.join(60)
        if self._proc.is_alive():
            self._proc.kill()
        self._proc = None

    async def ask(self, text: str, max_tokens: int) -> Any:
        """The child's answer to one stream: a `StreamResult`, or a tuple starting with one."""

        def ask() -> Any:
            self._conn.send((text, max_tokens))
            return self._conn.recv()

        return await asyncio.to_thread(ask)


class DefaultsProcess(ChildStreams):
    """`DefaultsEngine` in a process of its own (figure 1's outside baseline)."""

    def __init__(self, model: Path, threads: int) -> None:
        super().__init__("llama.cpp at its defaults", _child, str(model), threads)

    async def stream_once(self, text: str, max_tokens: int) -> StreamResult:
        result: StreamResult = await self.ask(text, max_tokens)
        return result
