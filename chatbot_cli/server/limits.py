"""Pure ASGI middleware: request ids, the request body cap and the access log.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass through untouched and the body cap
is enforced while the body is read, never by buffering it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from fastapi.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatbot_cli.errors import error_envelope

access_log = logging.getLogger("chatbot.access")

_MAX_REQUEST_ID = 128
MAX_HEADER_BYTES = 64 * 1024


def _too_large(limit: int) -> str:
    return f"Request body is larger than the {limit} byte limit."


class BodyTooLarge(HTTPException):
    """Raised from `receive` while the app reads the body. A FastAPI HTTPException, because
    FastAPI turns any other exception raised during body parsing into a generic 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


def _valid_request_id(value: bytes) -> str | None:
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    if 0 < len(text) <= _MAX_REQUEST_ID and text.isprintable() and " " not in text:
        return text
    return None


def log_field(value: object, quoted: bool = False) -> str:
    """`value` as one unambiguous access-log field: a client must not be able to start a new
    line or fake the next field. Backslashes, double quotes and every character that is not
    printable (controls, line and paragraph separators, format characters) become backslash
    escapes; so do spaces, unless the field is `quoted` (a user agent is written "like this")."""
    text = value if isinstance(value, str) else str(value)
    special = '"\\' if quoted else ' "\\'
    if text.isprintable() and not any(c in text for c in special):
        escaped = text
    else:
        escaped = "".join(_escape(c) if c in special or not c.isprintable() else c for c in text)
    if quoted:
        return f'"{escaped}"'
    return escaped or "-"


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        request_id = _valid_request_id(headers.get(b"x-request-id", b"")) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0
        limit = self.max_body_bytes

        header_bytes = sum(len(k) + len(v) for k, v in scope.get("headers") or [])
        if header_bytes > MAX_HEADER_BYTES:
            # uvicorn's httptools parser has no header cap of its own; h11's applies only with
            # --http h11. Refuse here so nothing downstream ever handles giant headers.
            status = 431
            message = f"Request headers are larger than the {MAX_HEADER_BYTES} byte limit."
            await self._reject(send, request_id, 431, message, "headers_too_large")
            self._log(scope, status, started, request_id)
            return

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            status = 413
            await self._reject(send, request_id, 413, _too_large(limit), "request_too_large")
            self._log(scope, status, started, request_id)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("ascii")),
                ]
                # A limited key's x-ratelimit headers, put there by server/quota.py.
                extra = scope["state"].get("response_headers")
                if extra:
                    message["headers"] += [(k.encode(), v.encode()) for k, v in extra.items()]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            if not response_started:
                status = 413
                await self._reject(send, request_id, 413, _too_large(limit), "request_too_large")
        finally:
            self._log(scope, status, started, request_id)

    @staticmethod
    async def _reject(send: Send, request_id: str, status: int, message: str, code: str) -> None:
        body = json.dumps(error_envelope(message, "invalid_request_error", None, code)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode("ascii")),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _log(scope: Scope, status: int, started: float, request_id: str) -> None:
        # Never the key, never the prompt: only who (the owner name), what route and which
        # client. Every field a client chose is escaped, so one log record is one line.
        state: dict[str, Any] = scope.get("state") or {}
        agent = next((v for k, v in scope.get("headers") or [] if k == b"user-agent"), None)
        access_log.info(
            "%s %s %s %.1fms request_id=%s key=%s agent=%s",
            log_field(scope.get("method", "")),
            log_field(scope.get("path", "")),
            status,
            (time.perf_counter() - started) * 1000,
            request_id,
            log_field(state.get("owner", "-")),
            "-" if agent is None else log_field(agent.decode("latin-1"), quoted=True),
        )
