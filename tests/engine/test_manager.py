"""The model manager on scripted backends: loads on demand and once, evicts the least recently
used idle model, never one in use, unloads after the TTL, and reports a failed load while the
other models keep serving."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from chatbot_cli.engine.base import Chunk, GenerationRequest, ModelInfo
from chatbot_cli.engine.manager import ModelManager
from chatbot_cli.errors import ConfigError, ModelLoadFailed, ModelNotFound, Overloaded

REQUEST = GenerationRequest(messages=[{"role": "user", "content": "hi"}])


class Source:
    def __init__(self, *ids: str) -> None:
        self.list = [ModelInfo(i, f"/m/{i}.gguf", 1000, 512) for i in ids]

    def infos(self) -> list[ModelInfo]:
        return self.list

    def memory_per_token(self, model_id: str) -> int:
        return 10


class Backend:
    """One scripted model: start takes `load_seconds`; a stream yields one token, then waits
    for `release` (when given) before it ends."""

    def __init__(self, info: ModelInfo, world: World) -> None:
        self.info, self.world = info, world
        self.busy = 0
        self.exited: Callable[[str], None] | None = None
        world.backends[info.id] = self

    def on_exit(self, callback: Callable[[str], None]) -> None:
        self.exited = callback

    def die(self, reason: str) -> None:
        """What a worker backend does when its process ends on its own."""
        assert self.exited is not None
        self.exited(reason)

    @property
    def models(self) -> list[ModelInfo]:
        return [self.info]

    async def start(self) -> None:
        self.world.events.append(f"load {self.info.id}")
        await asyncio.sleep(self.world.load_seconds)
        if self.info.id in self.world.broken:
            raise ConfigError(f"Could not load model {self.info.path}: bad tensor data")

    async def stream(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        assert model == self.info.id
        self.busy += 1
        try:
            yield Chunk(self.info.id)
            if self.world.release is not None:
                await self.world.release.wait()
            yield Chunk("", finish_reason="stop", prompt_tokens=1, completion_tokens=1)
        finally:
            self.busy -= 1

    async def close(self) -> None:
        self.world.events.append(f"close {self.info.id}")

    def stats(self) -> dict[str, int]:
        return {"busy_slots": self.busy, "queue_depth": 0, "slots": 2}


class World:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.load_seconds = 0.0
        self.broken: set[str] = set()
        self.release: asyncio.Event | None = None
        self.backends: dict[str, Backend] = {}


def manager(world: World, *ids: str, **kwargs: float) -> ModelManager:
    return ModelManager(Source(*ids), lambda info: Backend(info, world), **kwargs)  # type: ignore[arg-type,return-value]


async def text(m: ModelManager, model: str) -> str:
    return "".join([c.content async for c in m.stream(model, REQUEST)])


def loaded(m: ModelManager) -> list[str]:
    return sorted(row["id"] for row in m.status() if row["state"] == "loaded")


def test_start_loads_the_default_and_others_load_on_first_use() -> None:
    async def scenario() -> None:
        world = World()
        m = manager(world, "a", "b", max_loaded=2)
        await m.start()
        assert world.events == ["load a"] and loaded(m) == ["a"]
        assert await text(m, "default") == "a"
        assert await text(m, "b") == "b"
        assert world.events == ["load a", "load b"] and loaded(m) == ["a", "b"]
        assert await text(m, "a") == "a" and world.events == ["load a", "load b"]
        assert m.stats() == {"busy_slots": 0, "queue_depth": 0, "slots": 4}
        with pytest.raises(ModelNotFound, match="Available models: a, b"):
            await text(m, "c")
        await m.close()
        assert sorted(world.events[2:]) == ["close a", "close b"]

    asyncio.run(scenario())


def test_concurrent_requests_during_a_load_share_one_load() -> None:
    async def scenario() -> None:
        world = World()
        m = manager(world, "a", "b", max_loaded=2)
        await m.start()
        world.load_seconds = 0.2
        answers = await asyncio.gather(*(text(m, "b") for _ in range(8)))
        assert answers == ["b"] * 8
        assert world.events.count("load b") == 1
        await m.close()

    asyncio.run(scenario())


def test_the_least_recently_used_idle_model_makes_room() -> None:
    async def scenario() -> None:
        world = World()
        m = manager(world, "a", "b", "c", max_loaded=2)
        await m.start()
        await text(m, "b")
        await text(m, "a")  # now b is the least recently used
        await text(m, "c")
        assert loaded(m) == ["a", "c"]
        assert world.events[-2:] == ["close b", "load c"]
        await m.close()

    asyncio.run(scenario())


def test_a_model_in_use_is_never_evicted_and_the_wait_is_bounded() -> None:
    async def scenario() -> None:
        world = World()
        world.release = asyncio.Event()
        m = manager(world, "a", "b", max_loaded=1, load_timeout=0.3)
        await m.start()
        stream = m.stream("a", REQUEST)
        assert (await anext(stream)).content == "a"  # a is generating
        with pytest.raises(Overloaded, match="all in use") as info:
            await text(m, "b")
        assert info.value.code == "models_busy" and info.value.retry_after > 0
        assert loaded(m) == ["a"]
        # Once a is idle, b takes its place.
        waiting = asyncio.create_task(text(m, "b"))
        await asyncio.sleep(0.05)
        world.release.set()
        assert [c.finish_reason async for c in stream] == ["stop"]
        assert await waiting == "b"
        assert loaded(m) == ["b"] and "close a" in world.events
        await m.close()

    asyncio.run(scenario())


def test_requests_wait_for_a_slow_load_only_so_long() -> None:
    async def scenario() -> None:
        world = World()
        m = manager(world, "a", "b", max_loaded=2, load_timeout=0.1)
        await m.start()
        world.load_seconds = 0.4
        with pytest.raises(Overloaded, match="still loading") as info:
            await text(m, "b")
        assert info.value.code == "model_loading"
        # The load carried on without the request that started it, and was not repeated.
        await asyncio.sleep(0.4)
        assert loaded(m) == ["a", "b"]
        assert await text(m, "b") == "b" and world.events.count("load b") == 1
        await m.close()

    asyncio.run(scenario())


def test_a_failed_load_is_an_error_and_the_others_keep_serving() -> None:
    async def scenario() -> None:
        world = World()
        world.broken.add("bad")
        m = manager(world, "a", "bad", max_loaded=1)
        await m.start()
        results = await asyncio.gather(*(text(m, "bad") for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, ModelLoadFailed) for r in results)
        error = results[0]
        assert isinstance(error, ModelLoadFailed)
        assert "'bad' could not be loaded" in error.message and "bad tensor data" in error.message
        assert error.status == 500 and error.code == "model_load_failed" and error.param == "model"
        assert world.events.count("load bad") == 1  # the three requests shared one attempt
        assert await text(m, "a") == "a"
        # The next request tries again (the file may have been fixed).
        world.broken.clear()
        assert await text(m, "bad") == "bad"
        await m.close()

    asyncio.run(scenario())


def test_an_idle_model_is_unloaded_after_the_ttl() -> None:
    async def scenario() -> None:
        world = World()
        m = manager(world, "a", "b", max_loaded=2, ttl=0.3)
        await m.start()
        await text(m, "b")
        row = next(r for r in m.status() if r["id"] == "b")
        assert row["expires_at"] is not None and row["expires_at"] > row["last_used_at"]
        await asyncio.sleep(0.15)
        await text(m, "a")  # using a restarts its clock, not b's
        await asyncio.sleep(0.25)
        assert loaded(m) == ["a"]
        await asyncio.sleep(0.2)
        assert loaded(m) == []
        assert await text(m, "b") == "b"  # and it loads again on demand
        await m.close()

    asyncio.run(scenario())


def test_status_estimates_memory_and_shows_slots() -> None:
    async def scenario() -> None:
        world = World()
        m = manager(world, "a", "b", max_loaded=2)
        await m.start()
        (row,) = m.status()
        assert row["id"] == "a" and row["default"] is True and row["state"] == "loaded"
        assert row["slots"] == 2 and row["busy_slots"] == 0
        assert row["memory_bytes"] == 1000 + 10 * 512 * 2
        assert row["expires_at"] is None  # no TTL
        await m.close()

    asyncio.run(scenario())


def test_a_loaded_model_the_catalog_drops_is_unloaded_once_idle() -> None:
    async def scenario() -> None:
        world, m, stream = await streaming_b()  # b is in use
        source = m._source
        assert isinstance(source, Source)
        source.list = [i for i in source.list if i.id != "b"]  # `models rm b --force`
        assert [i.id for i in m.models] == ["a"]
        await asyncio.sleep(0.05)
        assert loaded(m) == ["a", "b"]  # still streaming: kept until it ends
        world.release.set()
        assert [c.finish_reason async for c in stream] == ["stop"]
        for _ in range(100):
            if loaded(m) == ["a"]:
                break
            await asyncio.sleep(0.01)
        assert loaded(m) == ["a"] and "close b" in world.events
        with pytest.raises(ModelNotFound):
            await text(m, "b")
        await m.close()

    asyncio.run(scenario())


async def streaming_b() -> tuple[World, ModelManager, AsyncIterator[Chunk]]:
    """Models a and b loaded (b by one request), and a stream of b that has started."""
    world = World()
    world.release = asyncio.Event()
    m = manager(world, "a", "b", max_loaded=2)
    await m.start()
    await text_after_release(m, world, "b")
    stream = m.stream("b", REQUEST)
    await anext(stream)
    return world, m, stream


async def text_after_release(m: ModelManager, world: World, model: str) -> str:
    assert world.release is not None
    world.release.set()
    try:
        return await text(m, model)
    finally:
        world.release.clear()


def test_a_model_whose_process_ends_is_unloaded_and_loads_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        world, m, stream = await streaming_b()  # b is in use when its process dies
        first = world.backends["b"]
        with caplog.at_level(logging.WARNING, "chatbot.engine"):
            first.die("its worker process was killed by SIGKILL")
        assert loaded(m) == ["a"] and [r["id"] for r in m.status()] == ["a"]
        (line,) = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
        assert line == (
            "model b stopped: its worker process was killed by SIGKILL; unloaded, the next "
            "request loads it again"
        )
        await asyncio.sleep(0)
        assert world.events[-1] == "close b"  # its backend is closed (the process reaped)
        first.die("again")  # told twice: nothing more happens
        assert world.events.count("close b") == 1
        assert await text_after_release(m, world, "a") == "a"  # the other model serves
        assert await text_after_release(m, world, "b") == "b"  # b loads again, once
        assert world.events.count("load b") == 2 and world.backends["b"] is not first
        assert loaded(m) == ["a", "b"]
        world.release.set()
        assert [c.finish_reason async for c in stream] == ["stop"]  # the old stream's end
        assert loaded(m) == ["a", "b"]
        await m.close()
        world.backends["b"].die("after close")  # ignored: the server is stopping
        assert world.events.count("load b") == 2

    asyncio.run(scenario())
