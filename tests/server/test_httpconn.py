"""The request-header and body deadlines (server/httpconn.py), with real sockets against a real
server: silent and trickling connections are closed, slow-but-finished requests, idle keep-alive
connections and bodies finished within their own deadline are not."""

from __future__ import annotations

import inspect
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import LiveServer

DEADLINE = 1.0
BODY_DEADLINE = 3.0
SLACK = 2.0  # scheduling on a busy 2-core machine
REQUEST = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(
        home=tmp_path_factory.mktemp("httpconn"),
        model=tiny_model,
        extra_args=["--header-timeout", str(DEADLINE), "--body-timeout", str(BODY_DEADLINE)],
    ).start()
    yield live
    live.kill()


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE + SLACK + 5)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_response(sock: socket.socket) -> bytes:
    """One response to GET /health (JSON body with a content-length), leaving the socket open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[
            1
        ]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.e2e
def test_silent_connection_is_closed(server: LiveServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert read_until_closed(sock) == b""  # nothing sent, nothing owed: just closed
        assert DEADLINE * 0.8 <= time.monotonic() - started <= DEADLINE + SLACK


@pytest.mark.e2e
def test_trickled_headers_get_408_and_close(server: LiveServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.settimeout(0.2)
        closed = b""
        # Every byte arrives well within any idle timeout, but the headers never complete.
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            try:
                sock.send(bytes([byte]))
                closed = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if closed:
                break
        elapsed = time.monotonic() - started
    assert closed.startswith(b"HTTP/1.1 408 "), closed
    assert b"connection: close" in closed.lower()
    assert DEADLINE * 0.8 <= elapsed <= DEADLINE + SLACK


@pytest.mark.e2e
def test_slow_but_complete_headers_keep_alive_and_slow_body_are_served(
    server: LiveServer,
) -> None:
    with connect(server) as sock:
        # Headers in two parts, finished within the deadline.
        sock.sendall(REQUEST[:10])
        time.sleep(DEADLINE / 3)
        sock.sendall(REQUEST[10:])
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        # Idle between requests for longer than the header deadline: keep_alive governs that.
        time.sleep(DEADLINE + 0.5)
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        # A later request that stalls in its headers gets the deadline from its first byte.
        sock.sendall(REQUEST[:10])
        started = time.monotonic()
        rest = read_until_closed(sock)
        assert rest.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started <= DEADLINE + SLACK
    with connect(server) as sock:
        # The header deadline covers headers only: a body that arrives after it is still read.
        body = b'{"query": "{ __typename }"}'
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {server.api_key}\r\n".encode()
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        )
        time.sleep(DEADLINE + 0.5)
        sock.sendall(body)
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 200 "), response[:300]
    assert b'"__typename":"Query"' in response.replace(b" ", b"")


def test_trickled_body_gets_408_and_close_and_the_server_goes_on(server: LiveServer) -> None:
    body = b'{"query": "{ __typename }"}'
    with connect(server) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {server.api_key}\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        started = time.monotonic()
        sock.settimeout(0.5)
        response = b""
        for byte in body[:-1]:  # a byte every half second, never finished
            try:
                sock.sendall(bytes([byte]))
                response = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                pass
            break
        elapsed = time.monotonic() - started
        sock.settimeout(DEADLINE + SLACK + 5)
        response += read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 408 "), response[:300]
    assert b"body was not received in time" in response
    assert BODY_DEADLINE - 0.5 <= elapsed <= BODY_DEADLINE + SLACK
    with connect(server) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")


@pytest.mark.e2e
def test_many_stalled_connections_are_all_released(server: LiveServer) -> None:
    socks = [connect(server) for _ in range(100)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"GET / HTTP/1.1\r\n" if i % 2 else b"")
        started = time.monotonic()
        for sock in socks:
            read_until_closed(sock)
        assert time.monotonic() - started <= DEADLINE + SLACK + 2
    finally:
        for sock in socks:
            sock.close()
    with connect(server) as sock:
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")


def test_uvicorn_names_the_protocol_relies_on() -> None:
    """server/httpconn.py subclasses uvicorn's httptools protocol (not public API): this fails
    when a method or attribute it overrides or reads is renamed, before slowloris returns."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

    from chatbot_cli.server.httpconn import HeaderTimeoutProtocol

    for name, params in (
        ("connection_made", ["self", "transport"]),
        ("connection_lost", ["self", "exc"]),
        ("on_message_begin", ["self"]),
        ("on_headers_complete", ["self"]),
        ("on_message_complete", ["self"]),
    ):
        method = getattr(HttpToolsProtocol, name)
        assert list(inspect.signature(method).parameters) == params, name
        assert getattr(HeaderTimeoutProtocol, name) is not method  # ours is the one called
    init = inspect.getsource(HttpToolsProtocol.__init__)
    for attribute in ("self.loop =", "self.transport", "self.cycle", "self.pipeline"):
        assert attribute in init, attribute
    assert "self.keep_alive = keep_alive" in inspect.getsource(RequestResponseCycle.__init__)
    assert "self.response_complete" in inspect.getsource(RequestResponseCycle.__init__)
    assert "self.response_started" in inspect.getsource(RequestResponseCycle.__init__)
