"""A model in a worker process of its own: the same stream as in-process, cancellation, errors
across the process boundary, a child that dies, and which models the factory puts there."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from chatbot_cli.config import load_settings
from chatbot_cli.engine.base import GenerationRequest
from chatbot_cli.engine.llamacpp import LlamaCppEngine
from chatbot_cli.engine.models import local_model
from chatbot_cli.engine.openmp import VAR, spin_env
from chatbot_cli.engine.registry import local_first
from chatbot_cli.engine.worker import WorkerEngine
from chatbot_cli.errors import (
    ConfigError,
    ContextLengthExceeded,
    EngineFailure,
    ModelStopped,
    Overloaded,
)
from tests.engine.test_llamacpp import HELLO, collect, running, text_of, wait_until


@asynccontextmanager
async def worker(model: Path, **settings: Any) -> AsyncIterator[WorkerEngine]:
    settings.setdefault("threads", 2)
    settings.setdefault("parallel", 2)
    settings.setdefault("warmup", False)
    loaded = load_settings(model=str(model), **settings)
    engine = WorkerEngine(loaded, local_model(loaded)[0])
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


def test_a_worker_streams_what_the_in_process_engine_streams(tiny_model: Path) -> None:
    async def scenario() -> None:
        async with worker(tiny_model, warmup=True) as remote, running(tiny_model) as local:
            assert [m.id for m in remote.models] == ["tiny"]
            theirs = await collect(remote, max_tokens=8, temperature=0.0)
            ours = await collect(local, max_tokens=8, temperature=0.0)
            assert theirs == ours and theirs[-1].completion_tokens == 8
            # The child loads libgomp with our spin count (engine/openmp.py).
            assert remote._proc is not None
            environ = Path(f"/proc/{remote._proc.pid}/environ").read_bytes().split(b"\0")
            assert f"{VAR}={spin_env()[VAR]}".encode() in environ
            assert remote.stats() == {"busy_slots": 0, "queue_depth": 0, "slots": 2}

    asyncio.run(scenario())


def test_errors_cross_the_process_boundary_as_the_same_class(tiny_model: Path) -> None:
    async def scenario() -> None:
        async with worker(tiny_model, n_ctx=64, parallel=1) as engine:
            long = [{"role": "user", "content": "word " * 400}]
            with pytest.raises(ContextLengthExceeded):
                await collect(engine, messages=long, max_tokens=4)
            # The slot came back: the next request runs.
            assert text_of(await collect(engine, max_tokens=2, temperature=0.0))

    asyncio.run(scenario())


def test_closing_a_stream_early_frees_its_slot(long_model: Path) -> None:
    async def scenario() -> None:
        async with worker(long_model, parallel=1, queue_size=0, n_ctx=32768) as engine:
            request = GenerationRequest(messages=HELLO, max_tokens=30000, temperature=1.0)
            stream = engine.stream("long", request)
            assert (await anext(stream)).content  # type: ignore[attr-defined]
            with pytest.raises(Overloaded):
                await collect(engine, "long", max_tokens=1)
            await stream.aclose()  # type: ignore[attr-defined]
            await wait_until(lambda: engine.stats()["busy_slots"] == 0, 10.0)
            assert text_of(await collect(engine, "long", max_tokens=2))

    asyncio.run(scenario())


def test_a_model_that_cannot_load_fails_start_with_the_reason(
    tiny_model: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + bytes(200))
    settings = load_settings(model=str(tiny_model), threads=2, warmup=False)
    info = dataclasses.replace(local_model(settings)[0], path=str(bad))

    async def scenario() -> None:
        engine = WorkerEngine(settings, info)
        with pytest.raises(ConfigError, match=f"Could not load model {bad}"):
            await engine.start()
        assert engine._proc is not None and engine._proc.returncode == 0
        await engine.close()

    asyncio.run(scenario())


def test_a_dead_worker_ends_its_streams_and_says_so(long_model: Path) -> None:
    """Killed: the stream running on it and the request waiting for its slot end with
    ModelStopped naming the model and how its process ended; whoever holds the engine is told
    once; later requests get the same answer rather than a 500."""

    async def scenario() -> None:
        async with worker(long_model, n_ctx=32768, parallel=1) as engine:
            exits: list[str] = []
            engine.on_exit(exits.append)
            request = GenerationRequest(messages=HELLO, max_tokens=30000, temperature=1.0)
            stream = engine.stream("long", request)
            assert (await anext(stream)).content  # type: ignore[attr-defined]
            queued = asyncio.create_task(collect(engine, "long", max_tokens=1))
            await wait_until(lambda: engine.stats()["queue_depth"] == 1, 10.0)
            assert engine._proc is not None
            os.kill(engine._proc.pid, signal.SIGKILL)
            with pytest.raises(ModelStopped) as ended:
                async for _ in stream:  # type: ignore[attr-defined]
                    pass
            message = "The model 'long' stopped (its worker process was killed by SIGKILL)"
            assert ended.value.message.startswith(message)
            assert ended.value.status == 503 and ended.value.code == "model_stopped"
            with pytest.raises(ModelStopped, match=re.escape(message)):
                await queued
            assert exits == ["its worker process was killed by SIGKILL"]
            assert engine.stats()["busy_slots"] == 0 and engine.stats()["queue_depth"] == 0
            with pytest.raises(ModelStopped):
                await collect(engine, "long", max_tokens=1)
            late: list[str] = []
            engine.on_exit(late.append)  # registered after the end: told at once
            await asyncio.sleep(0)
            assert late == exits

    asyncio.run(scenario())


def test_close_ends_running_streams_and_the_process(long_model: Path) -> None:
    async def scenario() -> None:
        async with worker(long_model, n_ctx=32768) as engine:
            request = GenerationRequest(messages=HELLO, max_tokens=30000, temperature=1.0)
            stream = engine.stream("long", request)
            assert (await anext(stream)).content  # type: ignore[attr-defined]
            await engine.close()
            with pytest.raises(EngineFailure, match="shutting down"):
                async for _ in stream:  # type: ignore[attr-defined]
                    pass
            assert engine._proc is not None and engine._proc.returncode == 0

    asyncio.run(scenario())


def test_the_first_model_loads_in_process_the_others_in_workers(tiny_model: Path) -> None:
    settings = load_settings(model=str(tiny_model), threads=2, warmup=False)
    info = local_model(settings)[0]
    make = local_first(settings)

    async def scenario() -> None:
        first = make(info)
        assert isinstance(first, LlamaCppEngine)
        second = make(info)  # the first is created, so about to load: the second goes out
        assert isinstance(second, WorkerEngine)
        await first.start()
        await first.close()
        # Its llama.cpp server (and OpenMP threads) are gone: the process is free again.
        assert isinstance(make(info), LlamaCppEngine)

    asyncio.run(scenario())
