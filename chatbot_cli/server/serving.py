"""Chat completions between the router and the engine (the role of vLLM's serving_chat).

One request fans out into `n` engine streams (one per choice) that feed a single asyncio queue, so
choices interleave as they are generated and one place can cancel them all: on client disconnect,
server shutdown or an error in any choice. Per token this costs one queue hop and, when streaming,
one `json.dumps` of a small dict; nothing else (no pydantic, no logging).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from chatbot_cli.config import Settings
from chatbot_cli.engine.base import Chunk, Engine, GenerationRequest
from chatbot_cli.engine.registry import find_model
from chatbot_cli.errors import ChatbotError, EngineFailure, InvalidRequest, ModelNotFound
from chatbot_cli.server.metrics import Metrics, get_metrics
from chatbot_cli.server.protocol import ChatCompletionRequest
from chatbot_cli.server.sse import DONE, SSE_HEADERS, EventStream, event

log = logging.getLogger("chatbot.serving")

# How long a streaming request waits for its first chunk before the 200 and the SSE headers go
# out. Admission errors (queue full, unknown model, prompt too long) arrive well within it and
# become proper HTTP errors; a request that is merely queued starts streaming keep-alive pings.
ADMISSION_WAIT_SECONDS = 1.0
PING_SECONDS = 10
# After SIGTERM, how long streams get to send their farewell error event before being cut.
SHUTDOWN_GRACE_SECONDS = 2.0

_DONE_ITEM = object()
_SHUTDOWN_ITEM = object()


def check_limits(body: ChatCompletionRequest, settings: Settings) -> None:
    """The settings-dependent rules; the static ones live in the protocol models."""
    if len(body.messages) > settings.max_messages:
        raise InvalidRequest(
            f"Too many messages: {len(body.messages)} > {settings.max_messages}.",
            param="messages",
        )
    chars = sum(len(m.content) for m in body.messages)
    if chars > settings.max_prompt_chars:
        raise InvalidRequest(
            f"The prompt is {chars} characters; the limit is {settings.max_prompt_chars}.",
            param="messages",
        )
    limit = body.token_limit
    if limit is not None and limit > settings.max_tokens_limit:
        param = "max_tokens" if body.max_tokens is not None else "max_completion_tokens"
        raise InvalidRequest(
            f"{param} is {limit}; the largest accepted is {settings.max_tokens_limit}.",
            param=param,
        )


def generation_requests(body: ChatCompletionRequest) -> list[GenerationRequest]:
    messages = [{"role": m.role, "content": m.content} for m in body.messages]
    extra: dict[str, Any] = {}
    if body.response_format is not None:
        extra["response_format"] = body.response_format
    return [
        GenerationRequest(
            messages=messages,
            max_tokens=body.token_limit,
            temperature=body.temperature,
            top_p=body.top_p,
            stop=list(body.stop or []),
            seed=None if body.seed is None else body.seed + i,
            presence_penalty=body.presence_penalty,
            frequency_penalty=body.frequency_penalty,
            extra=dict(extra),
        )
        for i in range(body.n)
    ]


def get_engine(request: Request) -> Engine:
    engine: Engine | None = getattr(request.app.state, "engine", None)
    if engine is None:
        raise ModelNotFound("No model is loaded on this server.", param="model")
    return engine


@dataclass
class _ChoiceState:
    text: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    chunks: int = 0


class FanOut:
    """Runs one engine stream per choice and funnels their chunks into one queue."""

    def __init__(self, engine: Engine, model: str, requests: list[GenerationRequest]) -> None:
        self.queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        self.states = [_ChoiceState() for _ in requests]
        self.early_errors: dict[int, ChatbotError] = {}
        self._started = [asyncio.Event() for _ in requests]
        self._tasks = [
            asyncio.create_task(self._run(i, engine.stream(model, r)))
            for i, r in enumerate(requests)
        ]

    async def _run(self, index: int, stream: AsyncIterator[Chunk]) -> None:
        put = self.queue.put_nowait
        try:
            # aclosing: when this task is cancelled the engine's generator is closed, which is
            # what stops generation and frees the slot.
            async with aclosing(stream):  # type: ignore[type-var]
                async for chunk in stream:
                    self._started[index].set()
                    put((index, chunk))
            put((index, _DONE_ITEM))
        except asyncio.CancelledError:
            raise
        except ChatbotError as exc:
            if not self._started[index].is_set():
                self.early_errors[index] = exc
            put((index, exc))
        except Exception as exc:  # an engine bug must reach the client as an error, not a hang
            log.exception("engine stream failed")
            put((index, EngineFailure(f"The engine failed: {type(exc).__name__}.")))
        finally:
            self._started[index].set()

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
            self.queue.put_nowait((-1, _SHUTDOWN_ITEM))

        return asyncio.create_task(watch())

    def record(self, index: int, chunk: Chunk) -> None:
        state = self.states[index]
        state.chunks += 1
        if chunk.content:
            state.text.append(chunk.content)
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


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def _finish(reason: str | None) -> str:
    return reason if reason in ("stop", "length") else "stop"


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def create_chat_completion(request: Request, body: ChatCompletionRequest) -> Response:
    started = time.perf_counter()
    settings: Settings = request.app.state.settings
    check_limits(body, settings)
    engine = get_engine(request)
    models = engine.models
    if models:  # an upstream that could not list its models yet forwards and reports why
        find_model(body.model, models)  # a clear 404 before any slot is taken
    fan = FanOut(engine, body.model, generation_requests(body))
    if body.stream:
        return await _stream(request, body, fan, started)
    return await _complete(request, body, fan, started)


async def _collect(fan: FanOut, metrics: Metrics | None, started: float) -> None:
    pending = len(fan.states)
    first = True
    while pending:
        index, item = await fan.queue.get()
        if item is _DONE_ITEM:
            pending -= 1
        elif isinstance(item, ChatbotError):
            raise item
        else:
            if first and item.content and metrics:
                metrics.first_token(False, time.perf_counter() - started)
                first = False
            fan.record(index, item)


async def _complete(
    request: Request, body: ChatCompletionRequest, fan: FanOut, started: float
) -> Response:
    metrics = get_metrics(request)
    # One task per request (not per token) so a disconnect can be noticed while waiting.
    collector = asyncio.create_task(_collect(fan, metrics, started))
    disconnect = asyncio.create_task(_wait_disconnect(request))
    outcome = "cancelled"
    try:
        await asyncio.wait({collector, disconnect}, return_when=asyncio.FIRST_COMPLETED)
        if not collector.done():
            # Nobody is listening any more: free the slots and answer into the void.
            return Response(status_code=499)
        error = collector.exception()
        if error is not None:
            outcome = getattr(error, "code", None) or "error"
            raise error
        outcome = "ok"
    finally:
        collector.cancel()
        fan.cancel()
        disconnect.cancel()
        if metrics:
            usage = fan.usage() if outcome == "ok" else {}
            metrics.finished(
                False,
                outcome,
                time.perf_counter() - started,
                usage.get("prompt_tokens", 0),
                usage.get("completion_tokens", 0),
            )
    return JSONResponse(
        {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": "".join(s.text)},
                    "finish_reason": _finish(s.finish_reason),
                }
                for i, s in enumerate(fan.states)
            ],
            "usage": fan.usage(),
        }
    )


async def _stream(
    request: Request, body: ChatCompletionRequest, fan: FanOut, started: float
) -> Response:
    try:
        await fan.wait_admitted(ADMISSION_WAIT_SECONDS)
    except BaseException:
        fan.cancel()
        metrics = get_metrics(request)
        if metrics:
            metrics.finished(True, "rejected", time.perf_counter() - started)
        raise
    shutdown = anyio.Event()

    async def cancel_leftovers() -> None:
        # The generator's own `finally` cancels the engine streams, but a generator that never
        # started (client gone before the first event) has no `finally` to run.
        fan.cancel()

    return EventStream(
        _sse_events(request, body, fan, started, shutdown),
        background=BackgroundTask(cancel_leftovers),
        headers=SSE_HEADERS,
        ping=PING_SECONDS,
        sep="\n",
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )


async def _sse_events(
    request: Request,
    body: ChatCompletionRequest,
    fan: FanOut,
    started: float,
    shutdown: anyio.Event,
) -> AsyncIterator[bytes]:
    metrics = get_metrics(request)
    cid, created, model = _completion_id(), int(time.time()), body.model

    def chunk(index: int, delta: dict[str, str], finish: str | None) -> bytes:
        return event(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
            }
        )

    watcher = fan.on_shutdown(shutdown)
    pending = len(fan.states)
    first = True
    outcome = "cancelled"
    try:
        for index in range(pending):
            yield chunk(index, {"role": "assistant", "content": ""}, None)
        while pending:
            index, item = await fan.queue.get()
            if item is _DONE_ITEM:
                pending -= 1
                reason = _finish(fan.states[index].finish_reason)
                yield chunk(index, {"content": ""}, reason)
            elif item is _SHUTDOWN_ITEM:
                outcome = "shutdown"
                err = EngineFailure("The server is shutting down; the stream was cut short.")
                yield event(err.envelope())
                yield DONE
                return
            elif isinstance(item, ChatbotError):
                outcome = item.code or "error"
                yield event(item.envelope())
                yield DONE
                return
            else:
                fan.record(index, item)
                if item.content:
                    if first and metrics:
                        metrics.first_token(True, time.perf_counter() - started)
                        first = False
                    yield chunk(index, {"content": item.content}, None)
        outcome = "ok"
        if body.include_usage:
            yield event(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": fan.usage(),
                }
            )
        yield DONE
    finally:
        fan.cancel()
        watcher.cancel()
        if metrics:
            usage = fan.usage()
            metrics.finished(
                True,
                outcome,
                time.perf_counter() - started,
                usage["prompt_tokens"],
                usage["completion_tokens"],
            )
