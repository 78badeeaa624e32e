"""SlotGate: N slots, a bounded FIFO queue, and refusal when both are full."""

from __future__ import annotations

import asyncio

import pytest

from chatbot_cli.engine.scheduler import SlotGate
from chatbot_cli.errors import Overloaded


def test_slots_then_queue_then_refusal_and_fifo_handover() -> None:
    async def scenario() -> None:
        gate = SlotGate(slots=2, queue_size=2)
        first = await gate.acquire()
        await gate.acquire()
        order: list[str] = []

        async def wait(name: str) -> None:
            await gate.acquire()
            order.append(name)

        waiters = [asyncio.create_task(wait(n)) for n in ("a", "b")]
        await asyncio.sleep(0)
        assert gate.stats() == {"busy_slots": 2, "queue_depth": 2, "slots": 2}
        with pytest.raises(Overloaded) as info:
            await gate.acquire()
        assert info.value.retry_after >= 1
        gate.release(first)
        await asyncio.sleep(0)
        assert order == ["a"]
        gate.release(None)
        await asyncio.gather(*waiters)
        assert order == ["a", "b"]
        assert gate.stats() == {"busy_slots": 2, "queue_depth": 0, "slots": 2}
        gate.release(None)
        gate.release(None)
        assert gate.stats()["busy_slots"] == 0

    asyncio.run(scenario())


def test_a_cancelled_waiter_gives_up_its_place() -> None:
    async def scenario() -> None:
        gate = SlotGate(slots=1, queue_size=1)
        await gate.acquire()
        waiter = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        assert gate.queue_depth == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert gate.queue_depth == 0
        queued = asyncio.create_task(gate.acquire())  # the place is free again
        await asyncio.sleep(0)
        gate.release(None)
        await queued
        assert gate.stats() == {"busy_slots": 1, "queue_depth": 0, "slots": 1}

    asyncio.run(scenario())


def test_zero_queue_refuses_as_soon_as_slots_are_busy() -> None:
    async def scenario() -> None:
        gate = SlotGate(slots=1, queue_size=0)
        await gate.acquire()
        with pytest.raises(Overloaded, match="1 slots are in use"):
            await gate.acquire()

    asyncio.run(scenario())


def test_cancel_waiters_fails_everyone_waiting() -> None:
    async def scenario() -> None:
        gate = SlotGate(slots=1, queue_size=3)
        await gate.acquire()
        waiters = [asyncio.create_task(gate.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        gate.cancel_waiters(RuntimeError("closing"))
        results = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        assert gate.queue_depth == 0

    asyncio.run(scenario())
