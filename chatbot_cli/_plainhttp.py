"""One-shot JSON requests to a plain-http server, on a socket.

`chatbot todo ...` runs in shell loops, and most of such a command was importing httpx, with
httpcore, h11, its URL, cookie and proxy machinery; then `http.client`, which imports `ssl` and
the `email` parser for its headers, about a fifth of a `todo list --json` run (figures in
docs/design.md, "CLI start-up"). A request that needs no TLS, no proxy and no streaming needs
none of it: it is one HTTP/1.1 exchange on a fresh connection (`Connection: close`), its answer
framed by Content-Length, chunked transfer coding or the end of the connection, as RFC 9112
says. Everything else (HTTPS, proxies, SSE) stays on httpx (see `client.Client`).
"""

from __future__ import annotations

import json
import socket
from typing import IO, Any
from urllib.parse import urlsplit

# Bounds on what is read of a response's head: a server is not trusted to end its lines.
MAX_LINE = 65536
MAX_HEADERS = 100


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
        target = self._prefix + path
        headers = {"Host": self._host_header(), "Accept-Encoding": "identity"}
        headers.update(self._headers)
        body = b""
        if json is not None:
            body = _dumps(json)
            headers["Content-Type"] = "application/json"
        if body or method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        headers["Connection"] = "close"
        head = _head(method, target, headers)
        # A fresh connection each time: a CLI command sends one or a few requests, a loopback
        # connect costs microseconds, and a kept-alive socket the server has since closed would
        # need its own retry logic.
        # An ASCII host goes as bytes: given str, getaddrinfo would first import the idna codec
        # (and unicodedata) to encode it.
        host: str | bytes = self._host.encode() if self._host.isascii() else self._host
        try:
            sock = socket.create_connection((host, self._port), self._connect_timeout)  # type: ignore[arg-type]
        except TimeoutError as exc:
            raise ConnectFailed(f"connect timed out ({exc})") from None
        except OSError as exc:
            raise ConnectFailed(str(exc) or type(exc).__name__) from None
        try:
            sock.settimeout(self._timeout)
            try:
                sock.sendall(head + body)
                with sock.makefile("rb") as stream:
                    return _read_response(stream, method)
            except TimeoutError:
                raise TimedOut("no answer in time") from None
            except (OSError, ValueError) as exc:
                raise TransportError(str(exc) or type(exc).__name__) from None
        finally:
            sock.close()

    def _host_header(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return host if self._port == 80 else f"{host}:{self._port}"


def _head(method: str, target: str, headers: dict[str, str]) -> bytes:
    # What http.client refuses too: a line break or other control character would split the
    # head, a space would end the request target.
    if _unsafe(target) or " " in target or any(_unsafe(n + v) for n, v in headers.items()):
        raise ValueError("a request line or header contains a control character")
    lines = [f"{method} {target} HTTP/1.1", *(f"{n}: {v}" for n, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _unsafe(text: str) -> bool:
    return any(ord(c) < 32 or c == "\x7f" for c in text)


def _line(stream: IO[bytes]) -> bytes:
    line = stream.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ValueError("a response line is too long")
    return line


def _read_response(stream: IO[bytes], method: str) -> PlainResponse:
    while True:
        status_line = _line(stream)
        if not status_line:
            raise ValueError("the server closed the connection without an answer")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP status line: {status_line[:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = _line(stream)
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ValueError(f"not a header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ValueError("too many header lines")
        if not 100 <= status < 200:  # an interim answer: the real one follows
            break
    if method == "HEAD" or status in (204, 304):
        return PlainResponse(status, headers, b"")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return PlainResponse(status, headers, _chunked(stream))
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ValueError(f"bad Content-Length {length!r}")
        content = stream.read(int(length))
        if len(content) < int(length):
            raise ValueError("the connection closed before the whole answer came")
        return PlainResponse(status, headers, content)
    return PlainResponse(status, headers, stream.read())  # until the server closes


def _chunked(stream: IO[bytes]) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = _line(stream).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise ValueError(f"bad chunk size {size_line[:20]!r}") from None
        if size == 0:
            while _line(stream) not in (b"\r\n", b"\n", b""):  # trailer fields
                pass
            return b"".join(parts)
        data = stream.read(size)
        if len(data) < size:
            raise ValueError("the connection closed inside a chunk")
        parts.append(data)
        _line(stream)  # the CRLF after the chunk


def _dumps(value: Any) -> bytes:
    # As httpx encodes `json=`: compact, UTF-8, and NaN refused rather than sent as invalid JSON.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
