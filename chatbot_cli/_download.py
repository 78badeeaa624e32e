"""The body of a URL download: moved into its part file, and hashed from the file as it grows.

On Linux a plain-HTTP body is moved from the socket into the file with splice(2), so its bytes
never become Python objects: receiving, buffering and copying them through httpx's iterator
costs more CPU than the transfer itself, and on a small machine that CPU is what the server,
the writer and the hash share. httpx still sends the request, follows redirects and parses the
status line and headers; the splice starts after the body bytes httpx already holds. Anything
else (TLS, chunked or compressed bodies, no Content-Length, other systems) is read through
httpx's iterator.

The sha256 is taken by `FileHasher` on another thread from the file itself, following the bytes
written: hashlib and os.preadv release the GIL, so hashing overlaps the download, and a resumed
download hashes the bytes already on disk first with the same code.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import socket
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from queue import SimpleQueue
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    import httpx

# How long a read may wait for the next bytes, as httpx's timeout for the same download.
READ_TIMEOUT = 30.0
_BLOCK = 1 << 20
_WINDOW = 16 << 20
# fcntl's F_SETPIPE_SZ, which Python's fcntl module names only from 3.10 on some builds.
_F_SETPIPE_SZ = 1031


class _Hash(Protocol):
    def update(self, data: memoryview, /) -> None: ...


class Interrupted(Exception):
    """The connection ended or stalled before the body's last byte (the part file is kept)."""


def receive(
    resp: httpx.Response, fh: BinaryIO, length: int | None, advance: Callable[[int], None] | None
) -> None:
    """Write the rest of `resp`'s body to `fh` (unbuffered, positioned at the part's end)."""
    sock = _spliceable(resp, length)
    if sock is None:
        for chunk in resp.iter_bytes():
            fh.write(chunk)
            if advance:
                advance(len(chunk))
        return
    assert length is not None
    # The first event drains what httpx read past the headers (h11 hands over its whole buffer,
    # up to Content-Length); every later byte is still in the socket. The iterator stays open
    # until the splice ends: closing it closes the connection.
    chunks = resp.iter_raw()
    first = next(chunks, b"")
    fh.write(first)
    if advance and first:
        advance(len(first))
    _splice(sock, fh.fileno(), length - len(first), advance)
    del chunks


def _spliceable(resp: httpx.Response, length: int | None) -> socket.socket | None:
    if not hasattr(os, "splice") or not sys.platform.startswith("linux") or length is None:
        return None
    headers = resp.headers
    if (
        resp.url.scheme != "http"
        or resp.http_version not in ("HTTP/1.0", "HTTP/1.1")
        or headers.get("Content-Encoding", "identity").lower() != "identity"
        or "Transfer-Encoding" in headers
    ):
        return None
    stream = resp.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    return sock if type(sock) is socket.socket else None


def _splice(sock: socket.socket, fd: int, left: int, advance: Callable[[int], None] | None) -> None:
    # httpcore leaves the socket non-blocking, which would make splice(2) fail with EAGAIN
    # between packets; blocking with a receive timeout waits for bytes as httpcore's reads do.
    # The connection is closed afterwards, never reused with these settings.
    sock.setblocking(True)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(READ_TIMEOUT), 0))
    src = sock.fileno()
    r, w = os.pipe()
    try:
        try:
            size = _set_pipe_size(w)
        except OSError:
            size = 1 << 16  # the kernel's default pipe size
        while left:
            try:
                n = os.splice(src, w, min(left, size))
            except BlockingIOError:
                raise Interrupted(f"no data for {READ_TIMEOUT:.0f} seconds") from None
            except OSError as exc:
                raise Interrupted(exc.strerror or str(exc)) from exc
            if n == 0:
                raise Interrupted(f"the server closed the connection with {left} bytes to go")
            moved = 0
            while moved < n:
                moved += os.splice(r, fd, n - moved)
            left -= n
            if advance:
                advance(n)
    finally:
        os.close(r)
        os.close(w)


def _set_pipe_size(w: int) -> int:
    import fcntl

    return fcntl.fcntl(w, _F_SETPIPE_SZ, _BLOCK)


class FileHasher:
    """sha256 of a file that is being appended to, computed on its own thread.

    `written(offset)` says the file holds every byte before `offset`; `hexdigest()` hashes to
    the end of the file and returns the digest of all of it. The bytes already in the file when
    it starts (a resumed download) are hashed first, before those that follow."""

    def __init__(self, path: Path) -> None:
        self._h = hashlib.sha256()
        self._path = path
        self._marks: SimpleQueue[int | None] = SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="chatbot-sha256", daemon=True)
        self._thread.start()

    def written(self, offset: int) -> None:
        self._marks.put(offset)

    def hexdigest(self) -> str:
        self._marks.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._h.hexdigest()

    def _run(self) -> None:
        try:
            with self._path.open("rb", buffering=0) as fh:
                done = 0
                while (mark := self._marks.get()) is not None:
                    # Small steps are gathered into windows: each window is one mapping.
                    if mark - done >= _WINDOW:
                        done = hash_range(fh.fileno(), self._h, done, mark)
                hash_range(fh.fileno(), self._h, done, None)
        except BaseException as exc:  # re-raised on the caller's thread by hexdigest
            self._error = exc


def hash_range(fd: int, h: _Hash, start: int, end: int | None) -> int:
    """Feed bytes [start, end) of `fd` (to its end when `end` is None) to `h`; returns the
    offset reached. The bytes are read through a mapping of the page cache, not copied out."""
    if end is None:
        end = os.fstat(fd).st_size
    while start < end:
        base = start - start % mmap.ALLOCATIONGRANULARITY
        size = min(end, base + _WINDOW) - base
        with mmap.mmap(fd, size, prot=mmap.PROT_READ, offset=base) as mapped:
            view = memoryview(mapped)
            try:
                h.update(view[start - base :])
            finally:
                view.release()
        start = base + size
    return start


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb", buffering=0) as fh:
        hash_range(fh.fileno(), h, 0, None)
    return h.hexdigest()
