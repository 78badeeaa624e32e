"""Chat completions between the router and the engine (the role of vLLM's serving_chat).

`fanout.FanOut` runs the request's choices; this module turns what they produce into one JSON
response or an SSE stream. Per token a stream costs one JSON-escaped string in a pre-encoded
chunk (sse.ChunkEvents) and no pydantic or logging; tokens that arrive together go out in one
socket write.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask

from chatbot_cli.config import Settings
from chatbot_cli.engine.base import Engine, GenerationRequest
from chatbot_cli.engine.models import find_model
from chatbot_cli.errors import ChatbotError, EngineFailure, InvalidRequest
from chatbot_cli.server.fanout import DONE_ITEM, SHUTDOWN_ITEM, FanOut
from chatbot_cli.server.metrics import Metrics
from chatbot_cli.server.protocol import ChatCompletionRequest
from chatbot_cli.server.quota import Quota, Ticket, admit_request
from chatbot_cli.server.sse import DONE, SSE_HEADERS, ChunkEvents, EventStream, event
from chatbot_cli.server.store import CompletionStore, StoredTurn, response_of, turn_headers
from chatbot_cli.server.tool_checks import check_request
from chatbot_cli.server.tools import Plan, assistant_message, plan_request, read_calls

# How long a streaming request waits for its first chunk before the 200 and the SSE headers go
# out. Admission errors (queue full, unknown model, prompt too long) arrive well within it and
# become proper HTTP errors; a request that is merely queued starts streaming keep-alive pings.
ADMISSION_WAIT_SECONDS = 1.0
PING_SECONDS = 10
# After SIGTERM, how long streams get to send their farewell error event before being cut.
SHUTDOWN_GRACE_SECONDS = 2.0


def check_limits(body: ChatCompletionRequest, settings: Settings) -> None:
    """The settings-dependent rules; the static ones live in the protocol models."""
    if len(body.messages) > settings.max_messages:
        raise InvalidRequest(
            f"Too many messages: {len(body.messages)} > {settings.max_messages}.",
            param="messages",
        )
    chars = sum(
        len(m.text) + sum(len(c.function.arguments) for c in m.tool_calls or [])
        for m in body.messages
    )
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


def generation_requests(body: ChatCompletionRequest, plan: Plan) -> list[GenerationRequest]:
    extra: dict[str, Any] = plan.extra
    return [
        GenerationRequest(
            messages=plan.messages,
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


def _completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def _finish(reason: str | None) -> str:
    return reason if reason in ("stop", "length", "tool_calls") else "stop"


async def _wait_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _collect(fan: FanOut, metrics: Metrics, started: float) -> None:
    pending = len(fan.states)
    first = True
    while pending:
        for index, item in await fan.channel.take():
            if item is DONE_ITEM:
                pending -= 1
            elif isinstance(item, ChatbotError):
                raise item
            else:
                if first and (item.content or item.tool_calls):
                    metrics.first_token(False, time.perf_counter() - started)
                    first = False
                fan.record(index, item)


class OpenAIServingChat:
    """Chat completions on one engine, under one app's settings and metrics. The lifespan builds
    it once; a request reaches it through `deps.ServingChat` and brings only what is its own:
    the body, and the raw request to notice a client that disconnects."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        metrics: Metrics,
        quota: Quota | None = None,
        store: CompletionStore | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.metrics = metrics
        self.quota = quota
        self.store = store
        self.flush_interval = settings.stream_flush_ms / 1000

    async def create_chat_completion(
        self, body: ChatCompletionRequest, raw_request: Request, owner: str = "default"
    ) -> Response:
        started = time.perf_counter()
        check_limits(body, self.settings)
        models = self.engine.models
        check_request(body)
        info = None
        if models:  # an upstream that could not list its models yet forwards and reports why
            info = find_model(body.model, models)  # a clear 404 before any slot is taken
        plan = plan_request(body, info)
        reader = plan.reader
        transform = None if reader is None else (lambda stream: read_calls(stream, reader()))
        # The stored turn's checks are the client's errors: made before a quota is taken.
        turn = await self.store.begin(body, owner) if body.store and self.store else None
        # Usage is the served model's: a request for the alias "default" counts under its id.
        served = info.id if info else body.model
        ticket = await admit_request(self.quota, raw_request, served, body.n)
        fan = FanOut(self.engine, body.model, generation_requests(body, plan), transform)
        if body.stream:
            return await self._stream(body, fan, started, ticket, turn)
        return await self._complete(raw_request, body, fan, started, ticket, turn)

    async def _complete(
        self,
        raw_request: Request,
        body: ChatCompletionRequest,
        fan: FanOut,
        started: float,
        ticket: Ticket,
        turn: StoredTurn | None = None,
    ) -> Response:
        metrics = self.metrics
        # One task per request (not per token) so a disconnect can be noticed while waiting.
        collector = asyncio.create_task(_collect(fan, metrics, started))
        disconnect = asyncio.create_task(_wait_disconnect(raw_request))
        outcome = "cancelled"
        try:
            await asyncio.wait({collector, disconnect}, return_when=asyncio.FIRST_COMPLETED)
            if not collector.done():
                # Nobody is listening any more: free the slots and answer into the void.
                return Response(status_code=499)
            error = collector.exception()
            # The key's share is free before the client has the answer and may ask again.
            await ticket.release()
            if error is not None:
                outcome = getattr(error, "code", None) or "error"
                raise error
            outcome = "ok"
        finally:
            collector.cancel()
            fan.cancel()
            disconnect.cancel()
            ticket.finish(fan)
            usage = fan.usage() if outcome == "ok" else {}
            metrics.finished(
                False,
                outcome,
                time.perf_counter() - started,
                usage.get("prompt_tokens", 0),
                usage.get("completion_tokens", 0),
            )
        result = {
            "id": turn.id if turn else _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [
                {
                    "index": i,
                    "message": assistant_message("".join(s.text), s.tool_calls, s.finish_reason),
                    "finish_reason": _finish(s.finish_reason),
                }
                for i, s in enumerate(fan.states)
            ],
            "usage": fan.usage(),
        }
        if turn is not None and self.store is not None:
            self.store.finish(turn, result, complete=True)
        return JSONResponse(result, headers=turn_headers(turn))

    async def _stream(
        self,
        body: ChatCompletionRequest,
        fan: FanOut,
        started: float,
        ticket: Ticket,
        turn: StoredTurn | None = None,
    ) -> Response:
        try:
            await fan.wait_admitted(ADMISSION_WAIT_SECONDS)
        except BaseException as exc:
            fan.cancel()
            if isinstance(exc, Exception):  # busy: the client may retry at once
                await ticket.release()
            ticket.finish(fan)
            self.metrics.finished(True, "rejected", time.perf_counter() - started)
            raise
        shutdown = anyio.Event()

        async def cancel_leftovers() -> None:
            # The generator's own `finally` cancels the engine streams, but a generator that
            # never started (client gone before the first event) has no `finally` to run.
            fan.cancel()
            ticket.finish(fan)

        return EventStream(
            self._sse_events(body, fan, started, shutdown, ticket, turn),
            background=BackgroundTask(cancel_leftovers),
            headers={**SSE_HEADERS, **turn_headers(turn)},
            ping=PING_SECONDS,
            sep="\n",
            shutdown_event=shutdown,
            shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
        )

    async def _sse_events(
        self,
        body: ChatCompletionRequest,
        fan: FanOut,
        started: float,
        shutdown: anyio.Event,
        ticket: Ticket,
        turn: StoredTurn | None = None,
    ) -> AsyncIterator[bytes]:
        metrics = self.metrics
        interval = self.flush_interval
        cid, created, model = turn.id if turn else _completion_id(), int(time.time()), body.model
        content = ChunkEvents(cid, created, model).content

        def chunk(index: int, delta: dict[str, Any], finish: str | None) -> bytes:
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
        loop = asyncio.get_running_loop()
        pending = len(fan.states)
        first = True
        outcome = "cancelled"
        try:
            for index in range(pending):
                yield chunk(index, {"role": "assistant", "content": ""}, None)
            flush_at = 0.0  # the first token goes out at once
            last_write = float("-inf")
            while pending:
                out: list[bytes] = []
                tokens = 0
                for index, item in await fan.channel.take(flush_at):
                    if item is DONE_ITEM:
                        pending -= 1
                        reason = _finish(fan.states[index].finish_reason)
                        out.append(chunk(index, {"content": ""}, reason))
                    elif item is SHUTDOWN_ITEM or isinstance(item, ChatbotError):
                        if isinstance(item, ChatbotError):
                            error, outcome = item, item.code or "error"
                        else:
                            message = "The server is shutting down; the stream was cut short."
                            error, outcome = EngineFailure(message), "shutdown"
                        out += (event(error.envelope()), DONE)
                        await ticket.release()
                        yield b"".join(out)
                        return
                    else:
                        fan.record(index, item)
                        if item.content or item.tool_calls:
                            if first:
                                metrics.first_token(True, time.perf_counter() - started)
                                first = False
                            if item.content:
                                out.append(content(index, item.content))
                            if item.tool_calls:
                                out.append(chunk(index, {"tool_calls": item.tool_calls}, None))
                            tokens += 1
                if not pending:
                    # The last chunks, the usage chunk and [DONE] in one write: the client
                    # wakes once.
                    outcome = "ok"
                    if body.include_usage:
                        out.append(
                            event(
                                {
                                    "id": cid,
                                    "object": "chat.completion.chunk",
                                    "created": created,
                                    "model": model,
                                    "choices": [],
                                    "usage": fan.usage(),
                                }
                            )
                        )
                    out.append(DONE)
                    # The key's share is free before the client has [DONE] and may ask again.
                    await ticket.release()
                if out:
                    yield b"".join(out) if len(out) > 1 else out[0]
                    now = loop.time()
                    # Hold tokens only while they come faster than one per half interval: then
                    # a write carries several. A slower stream (several clients sharing the
                    # decode) would gain nothing from a hold but latency and a timer wake-up.
                    # Only an unheld write's time is its token's arrival time.
                    held = flush_at > 0
                    fast = tokens > 1 or (not held and now - last_write < interval / 2)
                    flush_at = now + interval if fast and interval else 0.0
                    last_write = now
        finally:
            fan.cancel()
            watcher.cancel()
            ticket.finish(fan)
            usage = fan.usage()
            metrics.finished(
                True,
                outcome,
                time.perf_counter() - started,
                usage["prompt_tokens"],
                usage["completion_tokens"],
            )
            if turn is not None and self.store is not None:
                # Only queued here: the write happens after the stream, off this loop's path.
                self.store.finish(turn, response_of(turn, fan, usage), complete=outcome == "ok")
