"""Admission control shared by the backends: N slots and a bounded FIFO wait queue.

A request either gets a slot at once, waits its turn in the queue, or — when every slot is busy
and the queue is full — is refused with `Overloaded` before any byte is produced, so the server
can answer 503 with a Retry-After header instead of piling up work it cannot serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from typing import TYPE_CHECKING

from chatbot_cli.errors import EngineFailure, Overloaded

if TYPE_CHECKING:
    from chatbot_cli.engine.base import ModelInfo


class SlotGate:
    """Must be used from one event loop. `release()` may be called from any loop callback."""

    def __init__(self, slots: int, queue_size: int) -> None:
        self.slots = slots
        self.queue_size = queue_size
        self.busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        # Moving average of how long a slot is held, to suggest a useful Retry-After.
        self._avg_hold = 1.0

    @property
    def queue_depth(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def retry_after(self) -> int:
        rounds = (self.queue_depth + self.slots) / self.slots
        return max(1, min(60, math.ceil(self._avg_hold * rounds)))

    async def acquire(self) -> float:
        """Wait for a slot; return the monotonic time it was granted."""
        if self.busy < self.slots and not self.queue_depth:
            self.busy += 1
            return time.monotonic()
        if self.queue_depth >= self.queue_size:
            raise Overloaded(
                f"Server is busy: all {self.slots} slots are in use and "
                f"{self.queue_depth} requests are waiting. Try again later.",
                retry_after=self.retry_after(),
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The slot was handed to us just as we were cancelled: pass it on.
                self.release(None)
            else:
                self._remove(waiter)
            raise
        return time.monotonic()

    def release(self, granted_at: float | None) -> None:
        if granted_at is not None:
            held = time.monotonic() - granted_at
            self._avg_hold = 0.8 * self._avg_hold + 0.2 * held
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next in line
                return
        self.busy = max(0, self.busy - 1)

    def _remove(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def cancel_waiters(self, exc: BaseException) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)

    def stats(self) -> dict[str, int]:
        return {"busy_slots": self.busy, "queue_depth": self.queue_depth, "slots": self.slots}


class GatedEngine:
    """What every in-process backend of one model shares: its model card, its gate's figures,
    and a close that refuses the waiters at once and then stops generating off the loop
    (`_shutdown`, which each backend defines, blocks on threads or a child process)."""

    _model: ModelInfo
    _gate: SlotGate
    _closed: bool

    @property
    def models(self) -> list[ModelInfo]:
        return [self._model]

    def stats(self) -> dict[str, int]:
        return self._gate.stats()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._gate.cancel_waiters(EngineFailure("The server is shutting down"))
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        raise NotImplementedError
