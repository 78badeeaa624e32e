"""chatbot_cli/_download.py: a plain-HTTP body spliced from the socket into the part file byte
for byte, the cases that go through httpx's iterator instead, a stalled or cut body, the
hasher that follows the file, and the h11 behaviour the splice relies on."""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import h11
import httpx
import pytest

from chatbot_cli import _download
from tests.hubserver import Hub

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="splice(2) is Linux's")


@pytest.fixture
def body() -> bytes:
    # Larger than one pipe and than httpcore's first read, so that both paths carry bytes.
    return os.urandom(3 << 20) + b"end"


@pytest.fixture
def hub(body: bytes) -> Iterator[Hub]:
    with Hub() as h:
        h.repos["files"] = {"blob.bin": body}
        yield h


def fetch(url: str, out: Path, start: int = 0) -> tuple[list[int], str]:
    """GET `url` (from byte `start`) into `out` through `receive`; returns the progress steps
    and the sha256 of the whole file."""
    steps: list[int] = []
    done = start
    hasher = _download.FileHasher(out)

    def moved(n: int) -> None:
        nonlocal done
        done += n
        hasher.written(done)
        steps.append(n)

    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        with httpx.stream("GET", url, headers=headers) as resp, out.open("r+b", buffering=0) as fh:
            fh.seek(start)
            length = int(resp.headers["Content-Length"])
            _download.receive(resp, fh, length, moved)
    finally:
        digest = hasher.hexdigest()
    return steps, digest


@linux_only
def test_a_plain_http_body_is_spliced_byte_for_byte(
    hub: Hub, body: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spliced: list[int] = []
    real = os.splice

    def counting(src: int, dst: int, count: int, *args: object) -> int:
        n = real(src, dst, count, *args)  # type: ignore[arg-type]
        spliced.append(n)
        return n

    monkeypatch.setattr(os, "splice", counting)
    out = tmp_path / "blob.part"
    out.write_bytes(b"")
    steps, digest = fetch(f"{hub.url}/files/blob.bin", out)
    assert out.read_bytes() == body
    assert sum(steps) == len(body)
    # Most of the body crossed in the kernel, not as Python bytes.
    assert sum(spliced) > len(body)
    assert digest == hashlib.sha256(body).hexdigest()


def test_a_resumed_body_hashes_the_bytes_already_there_first(
    hub: Hub, body: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "blob.part"
    out.write_bytes(body[:1_000_000])
    steps, digest = fetch(f"{hub.url}/files/blob.bin", out, start=1_000_000)
    assert out.read_bytes() == body and sum(steps) == len(body) - 1_000_000
    assert digest == hashlib.sha256(body).hexdigest()


@linux_only
@pytest.mark.parametrize(
    ("how", "after", "message"),
    [("cut", 2_000_000, "closed the connection"), ("stall", 1_500_000, "no data for 1 seconds")],
)
def test_a_cut_or_stalled_body_is_interrupted_and_keeps_what_arrived(
    hub: Hub,
    body: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    after: int,
    message: str,
) -> None:
    monkeypatch.setattr(_download, "READ_TIMEOUT", 1.0)
    (hub.cut_after if how == "cut" else hub.stall_after)["blob.bin"] = after
    out = tmp_path / "blob.part"
    out.write_bytes(b"")
    with pytest.raises(_download.Interrupted, match=message):
        fetch(f"{hub.url}/files/blob.bin", out)
    assert out.read_bytes() == body[:after]


class _Stream:
    """What httpcore puts in a response's `network_stream` extension, around a real socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, info: str) -> object:
        return self.sock if info == "socket" else None


@pytest.fixture
def sock() -> Iterator[socket.socket]:
    with socket.socket() as s:
        yield s


def _response(
    sock: socket.socket, url: str, version: str = "HTTP/1.1", **headers: str
) -> httpx.Response:
    return httpx.Response(
        200,
        headers=headers,
        request=httpx.Request("GET", url),
        extensions={"network_stream": _Stream(sock), "http_version": version.encode()},
    )


@linux_only
def test_a_plain_body_of_known_length_is_spliceable(sock: socket.socket) -> None:
    for version in ("HTTP/1.0", "HTTP/1.1"):
        resp = _response(sock, "http://example.invalid/m.gguf", version)
        assert _download._spliceable(resp, 10) is sock


@pytest.mark.parametrize(
    ("url", "version", "headers", "length"),
    [
        ("https://example.invalid/m.gguf", "HTTP/1.1", {}, 10),
        ("http://example.invalid/m.gguf", "HTTP/2", {}, 10),
        ("http://example.invalid/m.gguf", "HTTP/1.1", {"Content-Encoding": "gzip"}, 10),
        ("http://example.invalid/m.gguf", "HTTP/1.1", {"Transfer-Encoding": "chunked"}, 10),
        ("http://example.invalid/m.gguf", "HTTP/1.1", {}, None),
    ],
)
def test_what_cannot_be_spliced_goes_through_httpx(
    sock: socket.socket, url: str, version: str, headers: dict[str, str], length: int | None
) -> None:
    assert _download._spliceable(_response(sock, url, version, **headers), length) is None


def test_h11_hands_its_whole_buffer_over_in_the_first_body_event() -> None:
    """`receive` splices from the socket after one body event; that is right only while h11
    keeps no body bytes back from that event."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.send(h11.EndOfMessage())
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    conn.receive_data(head + b"x" * 70_000)
    assert isinstance(conn.next_event(), h11.Response)
    data = conn.next_event()
    assert isinstance(data, h11.Data) and len(data.data) == 70_000
    assert conn.next_event() is h11.NEED_DATA


@pytest.mark.parametrize("window", [1 << 16, _download._WINDOW])
def test_the_hasher_follows_a_growing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    # A small window hashes while the file grows, from offsets inside a mapping's page.
    monkeypatch.setattr(_download, "_WINDOW", window)
    path = tmp_path / "grow"
    path.write_bytes(b"prefix")
    hasher = _download.FileHasher(path)
    written = b"prefix"
    with path.open("r+b", buffering=0) as fh:
        fh.seek(0, os.SEEK_END)
        for i in range(50):
            piece = os.urandom(1000 + i * 37_000)
            fh.write(piece)
            written += piece
            hasher.written(len(written))
    assert hasher.hexdigest() == hashlib.sha256(written).hexdigest()
    assert _download.sha256_file(path) == hashlib.sha256(written).hexdigest()


def test_a_hasher_error_reaches_the_caller(tmp_path: Path) -> None:
    hasher = _download.FileHasher(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        hasher.hexdigest()
