"""server/sse.py: the event encoding and the send path of the SSE response."""

from __future__ import annotations

import asyncio
import inspect
import json

import pytest
from sse_starlette import EventSourceResponse
from sse_starlette.sse import SendTimeoutError
from starlette.types import Message

from chatbot_cli.server.sse import DONE, ChunkEvents, EventStream, event


def test_event_is_one_compact_data_line() -> None:
    assert event({"a": "ü", "b": None}) == b'data: {"a":"\\u00fc","b":null}\n\n'
    assert json.loads(event({"x": 1})[len(b"data: ") :]) == {"x": 1}
    assert DONE == b"data:[DONE]\n\n"


@pytest.mark.parametrize("text", ["hi", " wörld", 'say "x"\\n', "\n\t\x00", "\u2028", "😀", ""])
def test_chunk_events_are_byte_for_byte_the_chunk_dicts_events(text: str) -> None:
    model = 'm\u00fc"del'
    events = ChunkEvents("chatcmpl-0a1b", 1764500000, model)
    for index in (0, 3):
        chunk = {
            "id": "chatcmpl-0a1b",
            "object": "chat.completion.chunk",
            "created": 1764500000,
            "model": model,
            "choices": [{"index": index, "delta": {"content": text}, "finish_reason": None}],
        }
        assert events.content(index, text) == event(chunk)


def test_overrides_a_method_sse_starlette_still_has() -> None:
    # If sse-starlette renames it, the override would silently stop applying.
    base = EventSourceResponse.__dict__.get("_send_with_timeout")
    assert base is not None and inspect.iscoroutinefunction(base)
    assert list(inspect.signature(base).parameters) == ["self", "send", "message"]


def test_sends_directly_without_a_timeout() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    response = EventStream(iter(()))
    message: Message = {"type": "http.response.body", "body": b"x", "more_body": True}
    asyncio.run(response._send_with_timeout(send, message))
    assert sent == [message]


def test_a_configured_send_timeout_still_applies() -> None:
    async def stuck(message: Message) -> None:
        await asyncio.sleep(10)

    response = EventStream(iter(()), send_timeout=0.01)
    message: Message = {"type": "http.response.body", "body": b"x", "more_body": True}
    with pytest.raises(SendTimeoutError):
        asyncio.run(response._send_with_timeout(stuck, message))
