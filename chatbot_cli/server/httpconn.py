"""uvicorn's HTTP protocol with deadlines for a request's headers and body, against slowloris.

uvicorn has no such timeout: `timeout_keep_alive` only runs between requests and the first byte
received cancels it, so a client that connects and sends nothing, or trickles a request's
headers a byte at a time, holds a connection for as long as it likes, and a few hundred such
clients hold every connection the process can take. ASGI middleware cannot help: it runs only
once the headers are complete.

Here a connection gets `header_timeout` seconds from connecting to finish its first request's
headers, and a later request on a kept-alive connection the same from its first byte (the idle
time between requests stays `keep_alive`'s business). Past the deadline a connection that sent
part of a request gets a 408 and is closed; one that sent nothing is just closed. Once the
headers are in, the body gets `body_timeout` seconds to arrive in full (the same attack, one
layer down: a request task and a connection held by a body sent a byte at a time); past it the
client gets a 408 if no response has started, and the connection is closed, which the app sees
as a client disconnect. The response is not limited: a long stream is never cut.

This subclasses uvicorn's httptools protocol, which is not public API: pyproject bounds uvicorn,
and tests/server/test_httpconn.py fails when the names used here change. The deadlines come
from `CHATBOT_HEADER_TIMEOUT` and `CHATBOT_BODY_TIMEOUT`, which `chatbot serve` sets from its
settings, so worker processes started by uvicorn see them too.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from chatbot_cli.config import Settings

ENV = "CHATBOT_HEADER_TIMEOUT"
BODY_ENV = "CHATBOT_BODY_TIMEOUT"
IMPORT_PATH = "chatbot_cli.server.httpconn:HeaderTimeoutProtocol"


def _response_408(text: bytes) -> bytes:
    return (
        b"HTTP/1.1 408 Request Timeout\r\n"
        b"content-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + text
    )


_RESPONSE_408 = _response_408(b"Request headers were not received in time.\n")
_BODY_408 = _response_408(b"The request body was not received in time.\n")


def _deadline(env: str, field: str) -> float:
    """A deadline in seconds: the environment (set by `chatbot serve`), else the default."""
    value = os.environ.get(env)
    if value:
        return float(value)
    return float(Settings.model_fields[field].default)


def header_timeout() -> float:
    return _deadline(ENV, "header_timeout")


def body_timeout() -> float:
    return _deadline(BODY_ENV, "body_timeout")


class HeaderTimeoutProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout()
        self.body_timeout = body_timeout()
        self._header_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._partial_request = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._partial_request = True
        if self._header_deadline is None:  # a later request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._partial_request = False
        before = self.cycle
        super().on_headers_complete()
        # Only a request whose app task started now reads its body now: a pipelined one waits
        # with reading paused, and an upgrade hands the connection over. httptools calls
        # on_message_complete at once for a request without a body.
        if self.cycle is not before and not self.pipeline:
            self._body_deadline = self.loop.call_later(self.body_timeout, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._disarm_body()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_body()
        super().connection_lost(exc)

    def _disarm_body(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            self.transport.write(_BODY_408)
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request stalls behind a response still being written: that response
            # finishes, then the connection closes instead of waiting for the rest.
            self.cycle.keep_alive = False
            return
        if self._partial_request:
            self.transport.write(_RESPONSE_408)
        self.transport.close()
