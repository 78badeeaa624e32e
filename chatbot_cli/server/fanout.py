"""The choices of one request, funnelled to its response (the role of vLLM's output processor).

One request fans out into `n` engine streams (one per choice) that feed a single `Channel`, so
choices interleave as they are generated and one place can cancel them all: on client
disconnect, server shutdown or an error in any choice.

The response takes everything queued at once, and a streaming response writes it to the socket
in one write. A streaming response may ask `take` to hold tokens until a deadline, so that a
fast stream wakes its client once for several tokens instead of for each one. Each token
stays its own chunk; only the writes are grouped. The end of a choice, an error or shutdown is
never held.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

from chatbot_cli.engine.base import Chunk, Engine, GenerationRequest
from chatbot_cli.engine.handover import Pace
from chatbot_cli.errors import ChatbotError, EngineFailure
from chatbot_cli.toolcalls import merge_tool_call_deltas

log = logging.getLogger("chatbot.serving")

DONE_ITEM = object()
SHUTDOWN_ITEM = object()

Item = tuple[int, Any]


class Channel:
    """A FIFO from the choice tasks to the one response reading it, on one event loop.

    `take(not_before)` returns every queued item once something is queued and either the loop
    clock has reached `not_before` or an urgent item is queued. The reader is woken once per
    batch: by the `put` that makes the batch ready, or by one timer at `not_before`."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._items: list[Item] = []
        self._urgent = False
        self._waiter: asyncio.Future[None] | None = None
        self._not_before = 0.0
        self._timer: asyncio.TimerHandle | None = None
        # Tells the engines' thread hand-overs when the reader is parked until a deadline.
        self.pace = Pace()

    def put(self, item: Item, urgent: bool = False) -> None:
        self._items.append(item)
        if urgent:
            self._urgent = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if urgent or self._loop.time() >= self._not_before:
            waiter.set_result(None)
        elif self._timer is None:
            self._timer = self._loop.call_at(self._not_before, self._wake)

    def _wake(self) -> None:
        self._timer = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def take(self, not_before: float = 0.0) -> list[Item]:
        if not self._items or not (self._urgent or self._loop.time() >= not_before):
            self._not_before = not_before
            self._waiter = self._loop.create_future()
            if not_before > self._loop.time():
                self.pace.hold(not_before)
            if self._items:
                self._timer = self._loop.call_at(not_before, self._wake)
            try:
                await self._waiter
            finally:
                self._waiter = None
                self.pace.release()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
        batch, self._items, self._urgent = self._items, [], False
        return batch


@dataclass
class _ChoiceState:
    text: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    chunks: int = 0


class FanOut:
    """Runs one engine stream per choice and funnels their chunks into one channel."""

    def __init__(
        self,
        engine: Engine,
        model: str,
        requests: list[GenerationRequest],
        transform: Callable[[AsyncIterator[Chunk]], AsyncIterator[Chunk]] | None = None,
    ) -> None:
        """`transform`, given, wraps each choice's engine stream (constrained tool calls)."""
        self.channel = Channel()
        for request in requests:
            request.pace = self.channel.pace
        self.states = [_ChoiceState() for _ in requests]
        self.early_errors: dict[int, ChatbotError] = {}
        self._started = [asyncio.Event() for _ in requests]
        streams = [engine.stream(model, r) for r in requests]
        if transform is not None:
            streams = [transform(s) for s in streams]
        self._tasks = [asyncio.create_task(self._run(i, s)) for i, s in enumerate(streams)]

    async def _run(self, index: int, stream: AsyncIterator[Chunk]) -> None:
        put = self.channel.put
        started = self._started[index]
        try:
            # aclosing: when this task is cancelled the engine's generator is closed, which is
            # what stops generation and frees the slot.
            async with aclosing(stream):  # type: ignore[type-var]
                async for chunk in stream:
                    started.set()
                    put((index, chunk))
            put((index, DONE_ITEM), True)
        except asyncio.CancelledError:
            raise
        except ChatbotError as exc:
            if not started.is_set():
                self.early_errors[index] = exc
            put((index, exc), True)
        except Exception as exc:  # an engine bug must reach the client as an error, not a hang
            log.exception("engine stream failed")
            put((index, EngineFailure(f"The engine failed: {type(exc).__name__}.")), True)
        finally:
            started.set()

    async def wait_admitted(self, timeout: float) -> None:
        """Wait until every choice has produced something (or timeout); raise the first error
        that came before any text, so it can still become an HTTP status."""
        with anyio.move_on_after(timeout):
            for event in self._started:
                await event.wait()
        if self.early_errors:
            self.cancel()
            raise self.early_errors[min(self.early_errors)]

    def cancel(self) -> None:
        # Synchronous on purpose: it also runs inside cancelled scopes, where awaiting fails.
        for task in self._tasks:
            task.cancel()

    def on_shutdown(self, event: anyio.Event) -> asyncio.Task[None]:
        async def watch() -> None:
            await event.wait()
            self.channel.put((-1, SHUTDOWN_ITEM), True)

        return asyncio.create_task(watch())

    def record(self, index: int, chunk: Chunk) -> None:
        state = self.states[index]
        state.chunks += 1
        if chunk.content:
            state.text.append(chunk.content)
        if chunk.tool_calls:
            merge_tool_call_deltas(state.tool_calls, chunk.tool_calls)
        if chunk.finish_reason is not None:
            state.finish_reason = chunk.finish_reason
        if chunk.prompt_tokens is not None:
            state.prompt_tokens = chunk.prompt_tokens
        if chunk.completion_tokens is not None:
            state.completion_tokens = chunk.completion_tokens

    def usage(self) -> dict[str, int]:
        # The prompt is processed once per choice but billed once, as OpenAI does.
        prompt = max((s.prompt_tokens or 0 for s in self.states), default=0)
        completion = sum(
            s.completion_tokens if s.completion_tokens is not None else s.chunks
            for s in self.states
        )
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
