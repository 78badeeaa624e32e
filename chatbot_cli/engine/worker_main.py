"""The child side of `engine/worker.py`: one model's llama.cpp backend in a process of its own.

Run as `python -m chatbot_cli.engine.worker_main FD`, FD being its end of a socket pair. It runs the
ordinary `LlamaCppEngine` (same settings, warm-up, error mapping) and relays each generation over
the socket, pickled with `multiprocessing.connection`'s framing (both ends are ours):

- parent → child: `(settings, info)` first; then `("gen", id, request)`, `("cancel", id)`,
  `("close",)`
- child → parent: `("ready",)` or `("failed", error)`; then `("chunk", id, chunk)` for each chunk
  and one `("end", id)` or `("error", id, error)` per generation, sent once its slot is free.

The parent's end closing (it exited, even by kill -9) reads as `close`, so no child outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import threading
from contextlib import aclosing
from multiprocessing.connection import Connection
from typing import Any

from chatbot_cli.engine.base import GenerationRequest, ModelInfo
from chatbot_cli.engine.llamacpp import LlamaCppEngine
from chatbot_cli.errors import ChatbotError, EngineFailure


def portable(exc: BaseException) -> ChatbotError:
    """An error the parent can unpickle and raise as is (ChatbotError pickles its state)."""
    if isinstance(exc, ChatbotError):
        return exc
    return EngineFailure(f"{type(exc).__name__}: {exc}")


async def _generate(
    conn: Connection, engine: LlamaCppEngine, model: str, rid: int, request: GenerationRequest
) -> None:
    last: tuple[Any, ...] = ("end", rid)
    try:
        async with aclosing(engine.stream(model, request)) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                conn.send(("chunk", rid, chunk))
    except asyncio.CancelledError:
        pass  # the parent cancelled: the stream's own cleanup has stopped the generation
    except Exception as exc:
        last = ("error", rid, portable(exc))
    with contextlib.suppress(OSError):
        conn.send(last)


def _done(conn: Connection, tasks: dict[int, Any], rid: int, task: asyncio.Task[None]) -> None:
    tasks.pop(rid, None)
    if task.cancelled():  # cancelled before it started: its `end` is still owed
        with contextlib.suppress(OSError):
            conn.send(("end", rid))


async def serve(conn: Connection, engine: LlamaCppEngine, model: ModelInfo) -> None:
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                msg = ("close",)
            loop.call_soon_threadsafe(inbox.put_nowait, msg)
            if msg[0] == "close":
                return

    threading.Thread(target=read, name="chatbot-worker-inbox", daemon=True).start()
    tasks: dict[int, asyncio.Task[None]] = {}
    while True:
        msg = await inbox.get()
        if msg[0] == "gen":
            rid = msg[1]
            task = loop.create_task(_generate(conn, engine, model.id, rid, msg[2]))
            tasks[rid] = task
            task.add_done_callback(functools.partial(_done, conn, tasks, rid))
        elif msg[0] == "cancel":
            if (running := tasks.get(msg[1])) is not None:
                running.cancel()
        else:
            break
    # Running generations end with the engine's "shutting down" error, sent before we exit.
    await engine.close()
    if tasks:
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def run(conn: Connection) -> None:
    settings, model = conn.recv()
    engine = LlamaCppEngine(settings, model)
    try:
        await engine.start()
    except BaseException as exc:
        await engine.close()
        with contextlib.suppress(OSError):
            conn.send(("failed", portable(exc)))
        return
    conn.send(("ready",))
    await serve(conn, engine, model)


def main() -> None:
    conn = Connection(int(sys.argv[1]))
    with contextlib.suppress(EOFError, OSError):
        asyncio.run(run(conn))


if __name__ == "__main__":
    main()
