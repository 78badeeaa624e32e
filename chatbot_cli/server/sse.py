"""SSE framing of chat-completion chunks, on sse-starlette's response (pings, disconnect and
shutdown handling stay the library's)."""

from __future__ import annotations

import json
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.types import Message, Send

# The end marker without a space after the colon: SSE parsers (the openai SDK, httpx-sse) read
# the value "[DONE]", while the seed document's examples only parse lines starting "data: ".
DONE = b"data:[DONE]\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class ChunkEvents:
    """The `chat.completion.chunk` events of one stream, byte for byte what `event` makes of
    the chunk dict. A token's event is the stream's fixed head, the choice index and the
    JSON-escaped text: per token there is no dict to build and no encoder to make (`json.dumps`
    builds a new one for every call given `separators`)."""

    __slots__ = ("_head", "_tail")

    def __init__(self, cid: str, created: int, model: str) -> None:
        head = f'data: {{"id":{_str(cid)},"object":"chat.completion.chunk","created":{created}'
        self._head = f'{head},"model":{_str(model)},"choices":[{{"index":'
        self._tail = '},"finish_reason":null}]}\n\n'

    def content(self, index: int, text: str) -> bytes:
        return f'{self._head}{index},"delta":{{"content":{_str(text)}{self._tail}'.encode()


# The encoder `json.dumps` itself uses with default arguments: ASCII-only output, as in `event`.
_str = json.JSONEncoder().encode


class EventStream(EventSourceResponse):
    """sse-starlette wraps every send in an anyio cancel scope for its optional send timeout,
    even when there is none. We set no send timeout, so send directly: the scope was a large share
    of the event loop's work per streamed token (callgrind; the figures are in the commit that
    added this class). tests/server/test_sse.py fails if sse-starlette renames or drops the
    method."""

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        if self.send_timeout is None:
            await send(message)
        else:
            await super()._send_with_timeout(send, message)
