"""Chunks from a worker thread to the event loop, waking the loop only when its reader wants them.

Handing every token over with its own `call_soon_threadsafe` wakes the loop once per token: a
self-pipe write on the worker, then an epoll return, a callback and a task step through the
stream's generators on the loop. On a 2-core machine each of those wake-ups takes a core from
llama.cpp's decode threads in the middle of a token. A streaming response that holds tokens
for one socket write (server/fanout.py) does not look at them before its deadline anyway: it
says so through a `Pace`, the worker only queues the tokens meanwhile, and one loop timer at the
deadline hands the whole batch to the reader.

Reader side (the loop): `get` returns at once while something is queued and parks otherwise.
Writer side (the worker thread): `put` queues and wakes the parked reader unless the pace holds
it (its timer will). The end of the generation, queued on the loop with `put_now`, always wakes
it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class Pace:
    """When the consumer of some streams takes chunks next: `until` is a loop time, 0 (or a time
    past) meaning at once. Set on the loop, read on worker threads. Every `hold` calls the
    listeners on the loop, so each handover arms its own timer without a worker waking the
    loop to ask for one."""

    __slots__ = ("_listeners", "until")

    def __init__(self) -> None:
        self.until = 0.0
        self._listeners: list[Callable[[float], None]] = []

    def hold(self, until: float) -> None:
        self.until = until
        for listener in self._listeners:
            listener(until)

    def release(self) -> None:
        self.until = 0.0

    def listen(self, listener: Callable[[float], None]) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[float], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)


class Handover:
    __slots__ = ("_items", "_loop", "_pace", "_ready", "_timer", "_waiter", "_waking")

    def __init__(self, loop: asyncio.AbstractEventLoop, pace: Pace | None = None) -> None:
        self._loop = loop
        self._pace = pace
        self._items: deque[Any] = deque()
        self._ready = 0  # items the reader may take before it lets the loop run again
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # Set on the worker thread, cleared on the loop: a wake is already on its way.
        self._waking = False
        if pace is not None:
            pace.listen(self._arm)
            if pace.until:
                self._arm(pace.until)

    def close(self) -> None:
        """Stop listening to the pace and drop the timer (on the loop, when the stream ends)."""
        if self._pace is not None:
            self._pace.unlisten(self._arm)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- worker thread ---------------------------------------------------------------------

    def put(self, item: Any) -> None:
        """Raises RuntimeError if the loop is closed (nobody is reading any more)."""
        self._items.append(item)
        # Appended before the waiter is read, and the reader sets its waiter before its last
        # look at the queue: under the GIL one of the two sees the other, so no wake is lost.
        if self._waiter is None or self._waking:
            return
        # The pace's `until` is set before its timers are armed, in one step of the loop: a
        # hold seen here always has a timer on its way. The loop's clock is the monotonic one
        # (uvloop's in whole milliseconds).
        if self._pace is not None and self._pace.until > time.monotonic():
            return
        self._waking = True
        self._loop.call_soon_threadsafe(self._wake)

    # --- event loop ------------------------------------------------------------------------

    def put_now(self, item: Any) -> None:
        """Queue an urgent item from the loop itself."""
        self._items.append(item)
        self._wake()

    def _arm(self, until: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(until, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._wake()

    def _wake(self) -> None:
        self._waking = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        if not self._ready:
            await self._refill()
        self._ready -= 1
        return self._items.popleft()

    async def _refill(self) -> None:
        """Wait for items, then allow taking as many as are queued now. The worker appends
        while the reader reads: without the count a fast generation could keep one task step
        of the reader going, and the loop (a client's disconnect, other streams) waiting."""
        items = self._items
        if items:
            await asyncio.sleep(0)  # queued during the last batch: let the loop run first
        while not items:
            waiter = self._waiter = self._loop.create_future()
            try:
                if not items:  # see put: a wake for an item queued meanwhile is not lost
                    await waiter
            finally:
                self._waiter = None
        self._ready = len(items)
