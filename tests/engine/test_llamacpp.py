"""The llama.cpp backend on the tiny random-weight model: the real load and generation path."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from chatbot_cli.config import Settings, load_settings
from chatbot_cli.engine.base import Chunk, Engine, GenerationRequest
from chatbot_cli.engine.llamacpp import LlamaCppEngine
from chatbot_cli.engine.models import local_model
from chatbot_cli.errors import (
    ContextLengthExceeded,
    EngineFailure,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
)

HELLO = [{"role": "user", "content": "hello world"}]


def backend(settings: Settings) -> LlamaCppEngine:
    """The backend alone, as the model manager builds it for one model (the manager's own
    tests are in test_manager.py)."""
    return LlamaCppEngine(settings, local_model(settings)[0])


@asynccontextmanager
async def running(model: Path, **settings: Any) -> AsyncIterator[LlamaCppEngine]:
    settings.setdefault("threads", 2)
    settings.setdefault("parallel", 2)
    settings.setdefault("warmup", False)
    engine = backend(load_settings(model=str(model), **settings))
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


async def collect(engine: Engine, model: str = "tiny", **kw: Any) -> list[Chunk]:
    request = GenerationRequest(messages=kw.pop("messages", HELLO), **kw)
    return [chunk async for chunk in engine.stream(model, request)]


def text_of(chunks: list[Chunk]) -> str:
    return "".join(c.content for c in chunks)


async def wait_until(predicate: Any, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


def test_streams_text_then_a_final_chunk_with_usage(tiny_model: Path) -> None:
    async def scenario() -> None:
        async with running(tiny_model, warmup=True) as engine:
            assert isinstance(engine, Engine)
            assert [m.id for m in engine.models] == ["tiny"]
            assert engine.models[0].path == str(tiny_model.resolve())
            chunks = await collect(engine, max_tokens=8, temperature=0.0)
            *body, last = chunks
            assert body and all(c.content and c.finish_reason is None for c in body)
            assert last.content == "" and last.finish_reason == "length"
            assert last.completion_tokens == 8
            assert last.prompt_tokens is not None and last.prompt_tokens > 2
            assert text_of(chunks).isprintable()
            assert engine.stats() == {"busy_slots": 0, "queue_depth": 0, "slots": 2}

    asyncio.run(scenario())


def test_default_is_an_alias_and_unknown_ids_are_listed(tiny_model: Path) -> None:
    async def scenario() -> None:
        async with running(tiny_model) as engine:
            assert text_of(await collect(engine, "default", max_tokens=3, temperature=0.0))
            with pytest.raises(ModelNotFound, match="Available models: tiny"):
                await collect(engine, "gpt-4", max_tokens=3)

    asyncio.run(scenario())


def test_greedy_and_seeded_sampling_are_deterministic(tiny_model: Path) -> None:
    async def scenario() -> None:
        async with running(tiny_model) as engine:
            greedy = [text_of(await collect(engine, max_tokens=12, temperature=0.0))]
            greedy.append(text_of(await collect(engine, max_tokens=12, temperature=0.0)))
            assert greedy[0] == greedy[1]
            seeded = [
                text_of(await collect(engine, max_tokens=24, temperature=1.5, seed=seed))
                for seed in (7, 7, 8)
            ]
            assert seeded[0] == seeded[1]
            assert seeded[0] != seeded[2]

    asyncio.run(scenario())


def test_stop_string_cuts_the_text_and_finishes_with_stop(tiny_model: Path) -> None:
    async def scenario() -> None:
        async with running(tiny_model) as engine:
            full = text_of(await collect(engine, max_tokens=16, temperature=1.0, seed=3))
            stop = full[5:7]
            chunks = await collect(engine, max_tokens=16, temperature=1.0, seed=3, stop=[stop])
            assert text_of(chunks) == full[: full.index(stop)]
            assert chunks[-1].finish_reason == "stop"

    asyncio.run(scenario())


def test_cancelling_a_stream_frees_the_slot_within_a_second(long_model: Path) -> None:
    async def scenario() -> None:
        async with running(long_model, parallel=1, queue_size=0, n_ctx=32768) as engine:
            request = GenerationRequest(messages=HELLO, max_tokens=30000, temperature=1.0)
            stream = engine.stream("long", request)
            assert (await anext(stream)).content  # type: ignore[attr-defined]
            assert engine.stats()["busy_slots"] == 1
            with pytest.raises(Overloaded):
                await collect(engine, "long", max_tokens=1)
            await stream.aclose()  # type: ignore[attr-defined]
            freed = await wait_until(lambda: engine.stats()["busy_slots"] == 0, 1.0)
            print(f"slot freed {freed * 1000:.1f} ms after aclose()")
            # Uncancelled, 30000 tokens take well over 10 s; the slot is usable again at once.
            assert text_of(await collect(engine, "long", max_tokens=2))

    asyncio.run(scenario())


def test_a_cancelled_consumer_task_stops_generation(long_model: Path) -> None:
    async def scenario() -> None:
        async with running(long_model, parallel=1, queue_size=0, n_ctx=32768) as engine:
            first = asyncio.Event()

            async def consume() -> None:
                request = GenerationRequest(messages=HELLO, max_tokens=30000)
                async for _ in engine.stream("long", request):
                    first.set()

            task = asyncio.create_task(consume())
            await first.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await wait_until(lambda: engine.stats()["busy_slots"] == 0, 1.0)
            await wait_until(lambda: not engine._jobs, 1.0)

    asyncio.run(scenario())


def test_full_queue_is_refused_at_once_with_retry_after(long_model: Path) -> None:
    async def scenario() -> None:
        async with running(long_model, parallel=1, queue_size=1, n_ctx=32768) as engine:
            request = GenerationRequest(messages=HELLO, max_tokens=30000)
            running_stream = engine.stream("long", request)
            await anext(running_stream)  # type: ignore[call-overload]
            waiting = asyncio.create_task(collect(engine, "long", max_tokens=2))
            await wait_until(lambda: engine.stats()["queue_depth"] == 1, 1.0)
            assert engine.stats() == {"busy_slots": 1, "queue_depth": 1, "slots": 1}
            started = time.monotonic()
            with pytest.raises(Overloaded) as info:
                await collect(engine, "long", max_tokens=2)
            assert time.monotonic() - started < 0.5
            assert info.value.retry_after >= 1
            # Freeing the running slot lets the queued request through, in order.
            await running_stream.aclose()  # type: ignore[attr-defined]
            assert (await asyncio.wait_for(waiting, 5))[-1].finish_reason == "length"

    asyncio.run(scenario())


def test_prompt_over_the_context_raises_before_any_chunk(tiny_model: Path) -> None:
    async def scenario() -> None:
        async with running(tiny_model, parallel=1, n_ctx=64) as engine:
            # llama.cpp pads the context to a multiple of 256 tokens; we report what it uses.
            assert engine.models[0].context_length == 256
            stream = engine.stream("tiny", GenerationRequest(messages=[HELLO[0]] * 20))
            with pytest.raises(ContextLengthExceeded) as info:
                await anext(stream)  # type: ignore[call-overload]
            assert info.value.param == "messages"
            assert "maximum context length is 256 tokens" in info.value.message
            # A prompt that fits but leaves no room to finish stops with "length".
            fits = [{"role": "user", "content": "hello world " * 5}]
            chunks = await collect(engine, messages=fits, max_tokens=1000)
            assert chunks[-1].finish_reason == "length"
            assert (chunks[-1].prompt_tokens or 0) + (chunks[-1].completion_tokens or 0) <= 256
            assert engine.stats()["busy_slots"] == 0

    asyncio.run(scenario())


def test_values_llamacpp_rejects_become_invalid_request(tiny_model: Path) -> None:
    async def scenario() -> None:
        async with running(tiny_model) as engine:
            with pytest.raises(InvalidRequest, match="max_tokens"):
                await collect(engine, max_tokens=-5)
            with pytest.raises(InvalidRequest):
                await collect(engine, messages=[{"role": "user", "content": 3}])
            assert engine.stats()["busy_slots"] == 0

    asyncio.run(scenario())


def test_close_while_streaming_ends_the_stream_cleanly(long_model: Path) -> None:
    async def scenario() -> None:
        engine = backend(
            load_settings(model=str(long_model), parallel=2, n_ctx=32768, warmup=False)
        )
        await engine.start()
        request = GenerationRequest(messages=HELLO, max_tokens=30000)
        stream = engine.stream("long", request)
        await anext(stream)  # type: ignore[call-overload]
        started = time.monotonic()
        await engine.close()
        assert time.monotonic() - started < 2
        with pytest.raises(EngineFailure, match="shutting down"):
            async for _ in stream:
                pass
        await engine.close()  # idempotent
        with pytest.raises(EngineFailure):
            await collect(engine, "long", max_tokens=1)

    asyncio.run(scenario())


def _listening_inodes() -> set[str]:
    inodes = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/self/net/{name}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                inodes.add(fields[9])
    return inodes


def _own_socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def test_engine_opens_no_tcp_port_and_cleans_its_socket_dir(tiny_model: Path) -> None:
    async def scenario() -> None:
        async with running(tiny_model) as engine:
            assert not (_listening_inodes() & _own_socket_inodes())
            sock_dir = engine._sock_dir
            assert sock_dir is not None and (sock_dir / "engine.sock").exists()
            assert stat.S_IMODE(sock_dir.stat().st_mode) == 0o700
        assert not sock_dir.exists()

    asyncio.run(scenario())


def test_a_model_llamacpp_cannot_load_is_a_config_error_at_start(
    tiny_model: Path, tmp_path: Path
) -> None:
    from chatbot_cli.errors import ConfigError

    # Valid header and metadata, tensor data cut off.
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(tiny_model.read_bytes()[:300_000])
    engine = backend(load_settings(model=str(broken), warmup=False))

    async def scenario() -> None:
        with pytest.raises(ConfigError, match="Could not load model .*broken.gguf"):
            await engine.start()
        await engine.close()

    asyncio.run(scenario())
    assert isinstance(engine, LlamaCppEngine) and engine._sock_dir is None


def test_interpreter_exit_during_generation_does_not_abort(long_model: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, threading
        from chatbot_cli.config import load_settings
        from chatbot_cli.engine.base import GenerationRequest
        from chatbot_cli.engine.registry import build_engine

        started = threading.Event()

        def serve():
            async def main():
                engine = build_engine(load_settings(model={str(long_model)!r}, n_ctx=32768,
                                                    parallel=1, warmup=False))
                await engine.start()
                req = GenerationRequest(messages=[{{"role": "user", "content": "hi"}}],
                                        max_tokens=30000)
                async for _ in engine.stream("long", req):
                    started.set()
            asyncio.run(main())

        threading.Thread(target=serve, daemon=True).start()
        started.wait(30)
        print("exiting mid-generation", flush=True)
        """
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert "exiting mid-generation" in proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_socket_dirs_of_dead_processes_are_swept(tiny_model: Path, tmp_path: Path) -> None:
    from chatbot_cli.engine import llamacpp

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    base = llamacpp._short_tmp()
    stale = Path(base) / f"{llamacpp.SOCK_PREFIX}{dead.stdout.strip()}-test"
    stale.mkdir()
    (stale / "engine.sock").touch()
    mine = Path(base) / f"{llamacpp.SOCK_PREFIX}{os.getpid()}-test"
    mine.mkdir()
    try:

        async def scenario() -> None:
            async with running(tiny_model) as engine:
                assert engine._sock_dir is not None
                assert engine._sock_dir.name.startswith(f"{llamacpp.SOCK_PREFIX}{os.getpid()}-")

        asyncio.run(scenario())
        assert not stale.exists()
        assert mine.exists()  # a live process's dir is left alone
    finally:
        mine.rmdir()


def test_start_then_close_at_once_never_freezes(tiny_model: Path) -> None:
    """Dropping the server before llama.cpp's task loop had started froze the whole process (the
    stop was lost, the join waited holding the GIL): start() now waits for one task's answer.
    Each cycle here closes straight after start, the pattern that froze."""

    async def cycles() -> None:
        for _ in range(8):
            async with running(tiny_model, parallel=1):
                pass

    asyncio.run(cycles())


def test_xllamacpp_still_answers_the_task_start_waits_for() -> None:
    import xllamacpp

    assert callable(xllamacpp.Server.handle_metrics)
