"""The standard-library transport for one-shot requests, against real sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chatbot_cli._plainhttp import (
    ConnectFailed,
    PlainTransport,
    TimedOut,
    TransportError,
)
from tests.live import free_port


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = {
            "path": self.path,
            "body": body.decode(),
            "content_type": self.headers.get("Content-Type"),
            "authorization": self.headers.get("Authorization"),
        }
        data = json.dumps(seen).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "3")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def transport(url: str, timeout: float = 5.0) -> PlainTransport:
    return PlainTransport(url, {"Authorization": "Bearer k"}, timeout=timeout, connect_timeout=2)


def test_sends_json_and_reads_the_whole_answer(echo: str) -> None:
    response = transport(echo).request("POST", "/graphql", json={"query": "{ x }", "t": "é"})
    assert response.status_code == 201
    assert response.headers["retry-after"] == "3"  # names in lower case
    seen = response.json()
    assert seen["path"] == "/graphql"
    assert seen["body"] == '{"query":"{ x }","t":"é"}'  # compact UTF-8, as httpx sends it
    assert seen["content_type"] == "application/json"
    assert seen["authorization"] == "Bearer k"


def test_base_url_path_is_a_prefix(echo: str) -> None:
    response = transport(echo + "/api/").request("POST", "/graphql", json={})
    assert response.json()["path"] == "/api/graphql"


def test_nothing_listening_is_connect_failed() -> None:
    with pytest.raises(ConnectFailed):
        transport(f"http://127.0.0.1:{free_port()}").request("GET", "/health")


def test_silent_server_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(TimedOut):
            transport(url, timeout=0.3).request("POST", "/graphql", json={})
        assert time.monotonic() - start < 3
    finally:
        listener.close()


def test_connection_closed_without_answer_is_a_transport_error() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(TransportError) as info:
            transport(url).request("POST", "/graphql", json={})
        assert not isinstance(info.value, (TimedOut, ConnectFailed))
    finally:
        listener.close()


def test_refuses_what_is_not_plain_http() -> None:
    for url in ("https://chat.example", "ftp://x", "http://"):
        with pytest.raises(ValueError):
            transport(url)


def test_nan_is_refused_before_sending(echo: str) -> None:
    with pytest.raises(ValueError):
        transport(echo).request("POST", "/graphql", json={"x": float("nan")})


def _raw_server(answer: bytes) -> tuple[str, list[bytes], socket.socket]:
    """A server that reads one request head (and body), answers `answer` verbatim, closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            seen.append(data)
            conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", seen, listener


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"a":\r\n3\r\n 1}\r\n0\r\nTrailer: x\r\n\r\n',
        b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{"a": 1}',
        b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"a": 1}',
    ],
    ids=["chunked", "interim-answer", "until-close"],
)
def test_answers_are_framed_as_http_1_1_says(answer: bytes) -> None:
    url, seen, listener = _raw_server(answer)
    try:
        response = transport(url).request("POST", "/graphql", json={"q": 1})
        assert (response.status_code, response.json()) == (200, {"a": 1})
        head = seen[0].split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
        assert head[0] == "POST /graphql HTTP/1.1"
        assert f"Host: 127.0.0.1:{listener.getsockname()[1]}" in head
        assert {"Connection: close", "Content-Length: 7", "Authorization: Bearer k"} <= set(head)
    finally:
        listener.close()


@pytest.mark.parametrize(
    "answer",
    [
        b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"a": 1}',
        b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{"a"',
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    ],
    ids=["short-body", "short-chunk", "bad-chunk-size", "bad-length", "not-http", "bad-header"],
)
def test_a_broken_answer_is_a_transport_error(answer: bytes) -> None:
    url, _, listener = _raw_server(answer)
    try:
        with pytest.raises(TransportError) as info:
            transport(url).request("POST", "/graphql", json={})
        assert not isinstance(info.value, (TimedOut, ConnectFailed))
    finally:
        listener.close()


def test_a_header_with_a_line_break_is_refused_before_sending(echo: str) -> None:
    bad = PlainTransport(echo, {"Authorization": "Bearer k\r\nX: y"}, timeout=2, connect_timeout=2)
    with pytest.raises(ValueError):
        bad.request("GET", "/health")
