"""One-shot JSON requests to a plain-http server, on the standard library's `http.client`.

`chatbot todo ...` runs in shell loops, and most of such a command was importing httpx, with
httpcore, h11, its URL, cookie and proxy machinery; `http.client` and `json` cost a fraction of
that (figures in docs/design.md, "CLI start-up"). A request that needs no TLS, no proxy and no
streaming needs none of it: it is sent here, and the whole response is read.
Everything else (HTTPS, proxies, SSE) stays on httpx (see `client.Client`).
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit


class TransportError(Exception):
    """The request did not complete: nothing came back that could be read as a response."""


class ConnectFailed(TransportError):
    """No connection: nothing was sent."""


class TimedOut(TransportError):
    """Connected, but no complete answer in time."""


class PlainResponse:
    """The parts of `httpx.Response` the client reads."""

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers  # names in lower case (httpx's are case-insensitive)
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


class PlainTransport:
    def __init__(
        self, base_url: str, headers: dict[str, str], *, timeout: float, connect_timeout: float
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a plain http URL: {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._headers = headers
        self._timeout = timeout
        self._connect_timeout = connect_timeout

    def request(self, method: str, path: str, *, json: Any = None) -> PlainResponse:
        headers = dict(self._headers)
        body = None
        if json is not None:
            body = _dumps(json)
            headers["Content-Type"] = "application/json"
        # A fresh connection each time: a CLI command sends one or a few requests, a loopback
        # connect costs microseconds, and a kept-alive socket the server has since closed would
        # need its own retry logic.
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        try:
            try:
                conn.connect()
            except TimeoutError as exc:
                raise ConnectFailed(f"connect timed out ({exc})") from None
            except OSError as exc:
                raise ConnectFailed(str(exc) or type(exc).__name__) from None
            assert conn.sock is not None
            conn.sock.settimeout(self._timeout)
            try:
                conn.request(method, self._prefix + path, body=body, headers=headers)
                response = conn.getresponse()
                content = response.read()
            except TimeoutError:
                raise TimedOut("no answer in time") from None
            except (OSError, http.client.HTTPException) as exc:
                raise TransportError(str(exc) or type(exc).__name__) from None
            got = {k.lower(): v for k, v in response.getheaders()}
            return PlainResponse(response.status, got, content)
        finally:
            conn.close()


def _dumps(value: Any) -> bytes:
    # As httpx encodes `json=`: compact, UTF-8, and NaN refused rather than sent as invalid JSON.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
