"""The HTTP surface probed as an attacker and an offline user would: raw sockets and real clients
against a real server. Each probe is one finding of issue 22 that must stay fixed; the next
surfaces (tools, stored conversations, usage, models, the web page) get probes of the same kind."""

from __future__ import annotations

import re
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module, with a short header deadline for the slowloris probe."""
    live = LiveServer(
        home=tmp_path_factory.mktemp("probe-http"),
        model=tiny_model,
        extra_args=["--header-timeout", str(HEADER_TIMEOUT)],
    ).start()
    yield live
    live.kill()


TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def raw_request(server: LiveServer, data: bytes, timeout: float = 10) -> bytes:
    """Send bytes exactly as given and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_access_log_cannot_be_forged(server: LiveServer) -> None:
    forged = "2026-11-30 06:21:30,000 INFO chatbot.access: POST /graphql 200 1.0ms key=alice"
    path = "/probe%0a" + forged.replace(" ", "%20") + "%0d%0a"
    # U+0085 (NEL) ends a line for str.splitlines(), so log readers split on it too.
    agent = b"probe\x85" + forged.encode()
    request = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent
    response = raw_request(server, request + b"\r\nConnection: close\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 404"), response[:200]

    deadline = time.monotonic() + 5
    while "GET /probe" not in server.log():
        assert time.monotonic() < deadline, server.log()[-2000:]
        time.sleep(0.05)
    lines = server.log().splitlines()
    (logged,) = [line for line in lines if "GET /probe" in line]
    assert "/probe\\x0a2026-11-30\\x2006:21:30,000" in logged
    assert 'agent="probe\\x852026-11-30 06:21:30,000' in logged
    # Every line the server wrote is one of its own records (a timestamp first), or a
    # traceback's continuation: none starts with the forged text.
    assert not [line for line in lines if line.startswith(forged[:23])]
    assert all(TIMESTAMP.match(line) or not line.startswith("20") for line in lines)


def test_docs_page_works_offline(server: LiveServer) -> None:
    page = httpx.get(server.url + "/docs", timeout=10)
    assert page.status_code == 200
    refs = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert len(refs) >= 4, refs  # stylesheet, icon, script, the OpenAPI document
    assert "://" not in page.text
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        asset = httpx.get(server.url + ref, timeout=10)
        assert asset.status_code == 200 and asset.content, ref


def test_slowloris_cannot_hold_connections(server: LiveServer) -> None:
    """300 connections trickle a request line and headers that never end (one byte each every
    0.2 s, always inside any idle timeout): each is closed soon after the header deadline,
    and the server answers others meanwhile."""
    deadline = HEADER_TIMEOUT
    partial = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
    selector = selectors.DefaultSelector()
    sent: dict[socket.socket, int] = {}
    for _ in range(300):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        sent[sock] = 0
    started = time.monotonic()
    answered_meanwhile = False
    try:
        while sent and time.monotonic() - started < deadline + 10:
            for sock in list(sent):
                try:
                    sock.send(partial[sent[sock] : sent[sock] + 1])
                    sent[sock] += 1
                except OSError:  # reset by the server: closed
                    selector.unregister(sock)
                    sock.close()
                    del sent[sock]
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                assert not data or data.startswith(b"HTTP/1.1 408 "), data[:100]
                selector.unregister(sock)
                sock.close()
                sent.pop(sock, None)
            if not answered_meanwhile and time.monotonic() - started < deadline:
                health = httpx.get(server.url + "/health", timeout=5)
                answered_meanwhile = health.status_code == 200
        elapsed = time.monotonic() - started
    finally:
        for sock in sent:
            sock.close()
        selector.close()
    assert not sent, f"{len(sent)} connections still open after {elapsed:.1f} s"
    assert elapsed < deadline + 8
    assert answered_meanwhile
    assert httpx.get(server.url + "/health", timeout=5).status_code == 200
