"""The loopback hub's own behaviour when a client hangs up (tests/hubserver.py)."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from tests.hubserver import Hub


def test_a_client_hanging_up_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with Hub() as hub:
        hub.repos["files"] = {"a.gguf": b"GGUF" + bytes(1000)}
        host, port = hub.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET /files/a.gguf HTTP/1.1\r\nHost: hub\r\n\r\n")
            received = b""
            while not received.endswith(b"GGUF" + bytes(1000)):
                received += sock.recv(65536)
            # The handler now waits for the next request on the kept-alive connection: a zero
            # linger makes close() reset it, as a client exiting with bytes unread does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        deadline = time.monotonic() + 5
        while hub.server.hang_ups == 0:
            assert time.monotonic() < deadline, "the handler never saw the reset"
            time.sleep(0.01)
    assert capfd.readouterr() == ("", "")


def test_an_error_in_a_handler_fails_the_test_that_used_the_hub() -> None:
    with pytest.raises(AssertionError, match="the hub failed to serve"), Hub() as hub:
        hub.repos["acme/x"] = {"x.gguf": None}  # type: ignore[dict-item]  # no size to list
        with socket.create_connection(hub.server.server_address, timeout=5) as sock:
            sock.sendall(b"GET /api/models/acme/x/revision/main HTTP/1.1\r\nHost: hub\r\n\r\n")
            sock.recv(1)  # the handler closes the connection after its error
