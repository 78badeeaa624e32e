"""Several models behind one `Engine`: each loaded on the first request that names it, at most
`max_loaded` at once (the least recently used idle one makes room), unloaded after `ttl` idle
seconds (Ollama's keep_alive) when that is set.

The server sees one engine whatever is loaded, so the chat path, the fan-out and the metrics do
not change; `/api/ps` reads `status()`. A model's load runs once, in a task of its own: every
request that arrives meanwhile waits for that task (at most `load_timeout` seconds, then a 503
with Retry-After while the load carries on), and a request that gives up does not stop it. Loads
are serialised so that making room and loading are one step: two loads never evict each other's
model, and memory holds at most `max_loaded` models plus the one being replaced while it closes.

A model in use (streams running, or requests waiting for it) is never evicted: a load that needs
room waits for a model to become idle, within the same bound. A model that ends on its own (a
worker process killed or crashed: `base.Exits`) is forgotten at once, so the next request for it
loads it again; its backend ends the requests that were using it with `ModelStopped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, Protocol

from chatbot_cli.engine.base import Chunk, Engine, Exits, GenerationRequest, ModelInfo
from chatbot_cli.engine.models import find_model
from chatbot_cli.errors import ChatbotError, ModelLoadFailed, Overloaded

log = logging.getLogger("chatbot.engine")


class ModelSource(Protocol):
    """What the manager serves: `catalog.Catalog`, or a fixed list in tests."""

    def infos(self) -> list[ModelInfo]: ...

    def memory_per_token(self, model_id: str) -> int: ...


class _Slot:
    """One model the manager has loaded or is loading."""

    __slots__ = (
        "info", "engine", "task", "state", "active", "waiting", "loaded_at", "last_used", "blocked"
    )  # fmt: skip

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self.engine: Engine | None = None
        self.task: asyncio.Task[None] | None = None
        self.state = "loading"
        self.active = 0  # streams running on it
        self.waiting = 0  # requests waiting for its load
        self.loaded_at = 0.0  # wall-clock time, for status()
        self.last_used = time.monotonic()
        self.blocked: str | None = None  # why its load waits: every loaded model is in use

    @property
    def idle(self) -> bool:
        return self.state == "loaded" and not self.active and not self.waiting


class ModelManager:
    def __init__(
        self,
        source: ModelSource,
        factory: Callable[[ModelInfo], Engine],
        *,
        max_loaded: int = 1,
        ttl: float = 0.0,
        load_timeout: float = 120.0,
    ) -> None:
        self._source = source
        self._factory = factory
        self.max_loaded = max_loaded
        self.ttl = ttl
        self.load_timeout = load_timeout
        self._slots: dict[str, _Slot] = {}
        self._ready: dict[str, _Slot] = {}  # the loaded subset: the fast path reads only this
        self._lock = asyncio.Lock()
        self._changed: asyncio.Future[None] | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._listed: list[ModelInfo] | None = None
        self._pruning: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()  # backends of models that ended
        self._closed = False

    @property
    def models(self) -> list[ModelInfo]:
        infos = self._source.infos()
        if infos is not self._listed:
            # The catalog changed (a model pulled or removed): a loaded model it no longer
            # lists is served no more, so its memory goes back once it is idle.
            self._listed = infos
            self._prune_soon(infos)
        return infos

    def _prune_soon(self, infos: list[ModelInfo]) -> None:
        listed = {(i.id, i.path) for i in infos}
        gone = [s for s in self._slots.values() if (s.info.id, s.info.path) not in listed]
        if not gone or self._closed:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nothing is loaded either
            task = asyncio.get_running_loop().create_task(self._prune(listed))
            self._pruning.add(task)
            task.add_done_callback(self._pruning.discard)

    async def _prune(self, listed: set[tuple[str, str | None]]) -> None:
        while not self._closed:
            async with self._lock:
                gone = [s for s in self._slots.values() if (s.info.id, s.info.path) not in listed]
                for slot in [s for s in gone if s.idle]:
                    log.info("unloading model %s: no longer listed", slot.info.id)
                    await self._unload(slot)
            if not any(s.state == "loaded" for s in gone):
                return
            # One is still in use: try again when something changes.
            await asyncio.shield(self._change())

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load the default model (the first), so the first request does not wait for it.
        Its failure fails the start: a server whose configured model cannot load says so."""
        models = self.models
        if models:
            await self._acquire(models[0], timeout=None)
        if self.ttl > 0:
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._notify()
        for task in [self._reaper, *self._pruning]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        # A load in a worker thread cannot be interrupted: wait for it, then close what it made.
        loads = [s.task for s in self._slots.values() if s.task is not None and not s.task.done()]
        if loads:
            await asyncio.gather(*loads, return_exceptions=True)
        for slot in list(self._slots.values()):
            await self._unload(slot)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # --- generation ----------------------------------------------------------------------

    async def stream(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        info = find_model(model, self.models)
        slot = self._ready.get(info.id)
        if slot is None:
            slot = await self._acquire(info, timeout=self.load_timeout)
        engine = slot.engine
        assert engine is not None
        # From here to the `finally`, the model counts as in use and cannot be evicted.
        slot.active += 1
        try:
            async with aclosing(engine.stream(info.id, request)) as chunks:  # type: ignore[type-var]
                async for chunk in chunks:
                    yield chunk
        finally:
            slot.active -= 1
            slot.last_used = time.monotonic()
            if not slot.active:
                self._notify()

    def stats(self) -> dict[str, int]:
        totals = {"busy_slots": 0, "queue_depth": 0, "slots": 0}
        for slot in list(self._ready.values()):
            if slot.engine is not None:
                for key, value in slot.engine.stats().items():
                    if key in totals:
                        totals[key] += value
        return totals

    def status(self) -> list[dict[str, Any]]:
        """The loaded and loading models, most recently used first: what `/api/ps` shows.
        `memory_bytes` is an estimate: the weights (the file) plus the KV cache."""
        now_wall, now = time.time(), time.monotonic()
        default = self.models[0].id if self.models else None
        rows = []
        for slot in sorted(self._slots.values(), key=lambda s: -s.last_used):
            stats = slot.engine.stats() if slot.engine is not None else {}
            info = slot.info
            slots = stats.get("slots", 0)
            kv = self._source.memory_per_token(info.id) * (info.context_length or 0) * slots
            idle = slot.idle and self.ttl > 0
            rows.append(
                {
                    "id": info.id,
                    "state": slot.state,
                    "default": info.id == default,
                    "size_bytes": info.size_bytes,
                    "memory_bytes": (info.size_bytes or 0) + kv,
                    "context_length": info.context_length,
                    "slots": slots,
                    "busy_slots": stats.get("busy_slots", 0),
                    "queue_depth": stats.get("queue_depth", 0),
                    "active_requests": slot.active + slot.waiting,
                    "loaded_at": round(slot.loaded_at, 3) if slot.loaded_at else None,
                    "last_used_at": round(now_wall - (now - slot.last_used), 3),
                    "expires_at": (
                        round(now_wall - (now - slot.last_used) + self.ttl, 3) if idle else None
                    ),
                }
            )
        return rows

    # --- loading -------------------------------------------------------------------------

    async def _acquire(self, info: ModelInfo, timeout: float | None) -> _Slot:
        """The loaded slot for `info`, loading it (once) if needed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed:
                raise Overloaded("The server is shutting down.", retry_after=5)
            slot = self._slots.get(info.id)
            if slot is not None and slot.state == "loaded":
                return slot
            if slot is None or slot.state == "unloading":
                slot = _Slot(info)
                self._slots[info.id] = slot
                slot.task = asyncio.get_running_loop().create_task(self._load(slot))
                slot.task.add_done_callback(_consume)
            assert slot.task is not None
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            slot.waiting += 1
            try:
                await asyncio.wait_for(asyncio.shield(slot.task), remaining)
            except TimeoutError:
                if slot.blocked:
                    raise Overloaded(slot.blocked, retry_after=10, code="models_busy") from None
                raise Overloaded(
                    f"The model '{info.id}' is still loading; try again shortly.",
                    retry_after=5,
                    code="model_loading",
                ) from None
            finally:
                slot.waiting -= 1
                if not slot.waiting:
                    self._notify()  # a load still waiting for room gives up: nobody wants it
            if slot.state == "loaded":
                return slot
            # Unloaded again before this request ran (shutdown, or a load that failed): retry.

    async def _load(self, slot: _Slot) -> None:
        info = slot.info
        try:
            async with self._lock:
                await self._make_room(slot)
                started = time.monotonic()
                engine = self._factory(info)
                try:
                    await engine.start()
                except BaseException:
                    await engine.close()
                    raise
                if self._closed:
                    await engine.close()
                    raise Overloaded("The server is shutting down.", retry_after=5)
                log.info("loaded model %s in %.2f s", info.id, time.monotonic() - started)
        except ChatbotError as exc:
            self._forget(slot)
            if isinstance(exc, Overloaded):
                raise
            log.warning("could not load model %s: %s", info.id, exc.message)
            # Clients are told why, not where the server keeps its files.
            reason = exc.message.replace(f"Could not load model {info.path}: ", "")
            raise ModelLoadFailed(
                f"The model '{info.id}' could not be loaded: {reason}", param="model"
            ) from exc
        except BaseException as exc:
            self._forget(slot)
            if not isinstance(exc, Exception):
                raise
            log.exception("could not load model %s", info.id)
            raise ModelLoadFailed(
                f"The model '{info.id}' could not be loaded: {type(exc).__name__}: {exc}",
                param="model",
            ) from exc
        slot.engine = engine
        slot.state = "loaded"
        if isinstance(engine, Exits):
            engine.on_exit(functools.partial(self._ended, slot))
        slot.loaded_at = time.time()
        slot.last_used = time.monotonic()
        self._ready[info.id] = slot
        self._notify()

    async def _make_room(self, slot: _Slot) -> None:
        """Unload least recently used idle models until one more fits; wait (bounded) while
        every loaded model is in use."""
        deadline = time.monotonic() + self.load_timeout
        while True:
            loaded = [s for s in self._slots.values() if s is not slot and s.state == "loaded"]
            if len(loaded) < self.max_loaded:
                return
            idle = [s for s in loaded if s.idle]
            if idle:
                victim = min(idle, key=lambda s: s.last_used)
                log.info("unloading model %s to load %s", victim.info.id, slot.info.id)
                await self._unload(victim)
                continue
            busy = ", ".join(s.info.id for s in loaded)
            slot.blocked = (
                f"Cannot load the model '{slot.info.id}' now: the {len(loaded)} loaded "
                f"model(s) ({busy}) are all in use and max_loaded_models is "
                f"{self.max_loaded}. Try again later."
            )
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed or (not slot.waiting and slot.task is not None):
                raise Overloaded(slot.blocked, retry_after=10, code="models_busy")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._change()), remaining)
            slot.blocked = None

    async def _unload(self, slot: _Slot) -> None:
        """Forget the model at once (new requests load it again), then close its engine."""
        engine = slot.engine
        self._forget(slot)
        slot.state = "unloading"
        slot.engine = None
        if engine is not None:
            await engine.close()
            log.info("unloaded model %s", slot.info.id)

    def _ended(self, slot: _Slot, reason: str) -> None:
        """A loaded model's process ended on its own: forget the model now, so no request is
        sent to it and /api/ps no longer shows it, and reap its backend in a task."""
        engine = slot.engine
        if engine is None or self._closed:  # already being unloaded, or the server stops
            return
        log.warning(
            "model %s stopped: %s; unloaded, the next request loads it again",
            slot.info.id,
            reason,
        )
        self._forget(slot)
        slot.state = "unloading"
        slot.engine = None
        task = asyncio.get_running_loop().create_task(engine.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self._notify()  # a load waiting for room may go ahead

    def _forget(self, slot: _Slot) -> None:
        if self._slots.get(slot.info.id) is slot:
            del self._slots[slot.info.id]
        if self._ready.get(slot.info.id) is slot:
            del self._ready[slot.info.id]

    # --- idle tracking -------------------------------------------------------------------

    def _change(self) -> asyncio.Future[None]:
        """A future resolved at the next change: a model became idle, loaded or unloaded."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    async def _reap(self) -> None:
        """Unload each model idle for `ttl` seconds."""
        while not self._closed:
            now = time.monotonic()
            next_at = float("inf")
            for slot in list(self._ready.values()):
                if not slot.idle:
                    continue
                expires = slot.last_used + self.ttl
                if expires > now:
                    next_at = min(next_at, expires)
                    continue
                async with self._lock:
                    # Checked again under the lock: a request may have taken it meanwhile.
                    if slot.idle and time.monotonic() >= slot.last_used + self.ttl:
                        log.info("unloading model %s: idle for %.0f s", slot.info.id, self.ttl)
                        await self._unload(slot)
            change = self._change()
            timeout = None if next_at == float("inf") else max(0.0, next_at - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(change), timeout)


def _consume(task: asyncio.Task[None]) -> None:
    # Requests that waited have seen the error; nobody else must be told "never retrieved".
    if not task.cancelled():
        task.exception()
