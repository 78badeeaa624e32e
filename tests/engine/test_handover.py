"""The worker-thread → event-loop hand-over: nothing lost or reordered, the loop woken at once
unless the reader's pace holds it, held items delivered by the pace's deadline or the end,
and a fan-out channel that parks until a deadline telling its engines so."""

from __future__ import annotations

import asyncio
import threading

import pytest

from chatbot_cli.engine.handover import Handover, Pace
from chatbot_cli.server.fanout import Channel

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _from_thread(target: object, *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args)  # type: ignore[arg-type]
    thread.start()
    return thread


async def test_every_item_from_a_thread_arrives_in_order() -> None:
    handover = Handover(asyncio.get_running_loop())

    def produce() -> None:
        for i in range(20000):
            handover.put(i)

    thread = _from_thread(produce)
    got = [await asyncio.wait_for(handover.get(), 30) for _ in range(20000)]
    thread.join()
    assert got == list(range(20000))


async def parked_reader() -> tuple[asyncio.AbstractEventLoop, Pace, Handover, asyncio.Task[object]]:
    """A handover with its pace, and a reader already parked in `get()`."""
    loop = asyncio.get_running_loop()
    pace = Pace()
    handover = Handover(loop, pace)
    reader = asyncio.create_task(handover.get())
    await asyncio.sleep(0)
    return loop, pace, handover, reader


async def test_a_parked_reader_is_woken_at_once_without_a_hold() -> None:
    loop, pace, handover, reader = await parked_reader()
    start = loop.time()
    _from_thread(handover.put, "a").join()
    assert await asyncio.wait_for(reader, 30) == "a"
    assert loop.time() - start < 5


async def test_held_items_wait_for_the_deadline() -> None:
    loop, pace, handover, reader = await parked_reader()
    until = loop.time() + 0.1
    pace.hold(until)
    _from_thread(handover.put, "a").join()
    _from_thread(handover.put, "b").join()
    assert await asyncio.wait_for(reader, 30) == "a"
    assert loop.time() >= until - 0.002  # uvloop's clock counts whole milliseconds
    assert await handover.get() == "b"
    handover.close()


async def test_the_end_put_on_the_loop_is_not_held() -> None:
    loop, pace, handover, reader = await parked_reader()
    start = loop.time()
    pace.hold(start + 30)
    _from_thread(handover.put, "a").join()
    await asyncio.sleep(0.05)
    assert not reader.done()  # held: nothing woke the reader
    loop.call_soon(handover.put_now, "end")
    assert await asyncio.wait_for(reader, 10) == "a"
    assert await handover.get() == "end"
    assert loop.time() - start < 10
    handover.close()
    assert handover._timer is None


async def test_a_handover_joining_a_hold_arms_its_own_timer() -> None:
    loop = asyncio.get_running_loop()
    pace = Pace()
    until = loop.time() + 0.05
    pace.hold(until)
    handover = Handover(loop, pace)
    reader = asyncio.create_task(handover.get())
    await asyncio.sleep(0)
    _from_thread(handover.put, "a").join()
    assert await asyncio.wait_for(reader, 30) == "a"
    assert loop.time() >= until - 0.002
    handover.close()
    pace.hold(loop.time() + 30)  # a closed handover no longer listens
    assert handover._timer is None


async def test_a_channel_parked_until_a_deadline_holds_its_pace() -> None:
    loop = asyncio.get_running_loop()
    channel = Channel()
    assert channel.pace.until == 0.0
    until = loop.time() + 0.05
    take = asyncio.create_task(channel.take(until))
    await asyncio.sleep(0)
    assert channel.pace.until == until
    channel.put((0, "a"), True)
    assert await take == [(0, "a")]
    assert channel.pace.until == 0.0  # taken: the next item is wanted at once
    take = asyncio.create_task(channel.take())
    await asyncio.sleep(0)
    assert channel.pace.until == 0.0  # a take without a deadline holds nothing
    channel.put((0, "b"))
    assert await take == [(0, "b")]


async def test_a_reader_kept_busy_by_a_fast_writer_lets_the_loop_run() -> None:
    loop = asyncio.get_running_loop()
    handover = Handover(loop)
    for i in range(10):
        handover.put(i)
    ran: list[bool] = []
    loop.call_soon(ran.append, True)
    read = 0
    while read < 1000 and not ran:
        await handover.get()
        handover.put(read)  # as a worker appending while the reader reads
        read += 1
    assert ran and read < 1000
