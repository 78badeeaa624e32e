"""A model hub on loopback for huggingface_hub's client, and a plain file server for URLs.

It serves the URL layout and headers the client reads: `/api/models/{repo}/revision/{rev}`
(file list with sizes and LFS sha256) and `/{repo}/resolve/{rev}/{file}` (HEAD and GET with
ETag, X-Repo-Commit, Content-Length and Range). `cut_after` makes the next GET of a file stop
after that many bytes and drop the connection, as a broken network would; `stall_after` makes
it wait there instead, as a stalled one would, until `release` is set.

A client that hangs up with a response unread (a pull refusing a file too big for the disk) is
counted, not printed: socketserver's default prints the traceback from the handler thread, and
when that straddles the end of a test, pytest's capture lets one stray "Traceback (most recent
call last):" line through to the terminal and swallows the rest. Any other error in a handler
fails the test that used the hub.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Hub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.published: dict[tuple[str, str], str] = {}  # a wrong sha256 to publish
        self.cut_after: dict[str, int] = {}  # file name -> bytes to send before dropping
        self.stall_after: dict[str, int] = {}  # file name -> bytes to send before waiting
        self.release = threading.Event()  # ends every stall (then the connection is dropped)
        self.gated: dict[str, str] = {}  # repo -> the bearer token it needs
        self.auth: list[str | None] = []  # Authorization header of every request
        self.log: list[tuple[str, str, str | None, int]] = []  # method, path, Range, bytes sent
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        if self.server.errors and exc[0] is None:
            raise AssertionError(f"the hub failed to serve: {self.server.errors!r}")

    def sha(self, repo: str, name: str) -> str:
        return (
            self.published.get((repo, name)) or hashlib.sha256(self.repos[repo][name]).hexdigest()
        )

    def sent(self, name: str) -> list[tuple[str | None, int]]:
        """(Range header, body bytes sent) of every GET of a file."""
        return [(r, n) for m, p, r, n in self.log if m == "GET" and p.endswith("/" + name)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.hang_ups = 0
        self.errors: list[BaseException | None] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            self.hang_ups += 1
        else:
            self.errors.append(error)


def _handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, *, body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            token = self.headers.get("Authorization")
            hub.auth.append(token)
            needed = [t for r, t in hub.gated.items() if f"/{r}/" in path + "/"]
            if needed and token != f"Bearer {needed[0]}":
                return self._error(401, "GatedRepo", body)
            if path.startswith("/api/models/"):
                return self._info(path.removeprefix("/api/models/"), body)
            if "/resolve/" in path:
                repo, rest = path.lstrip("/").split("/resolve/", 1)
                name = rest.split("/", 1)[1]
                files = hub.repos.get(repo)
                if files is None:
                    return self._error(404, "RepoNotFound", body)
                if name not in files:
                    return self._error(404, "EntryNotFound", body)
                headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hub.sha(repo, name)}"'}
                return self._file(files[name], name, headers, body)
            # Plain file server: /files/NAME from the repo named "files".
            name = path.rsplit("/", 1)[-1]
            data = hub.repos.get("files", {}).get(name)
            if data is None:
                return self._error(404, None, body)
            return self._file(data, name, {}, body)

        def _info(self, rest: str, body: bool) -> None:
            repo = rest.split("/revision/", 1)[0]
            files = hub.repos.get(repo)
            if files is None:
                return self._error(404, "RepoNotFound", body)
            siblings = [
                {
                    "rfilename": name,
                    "size": len(data),
                    "blobId": hashlib.sha1(data).hexdigest(),
                    "lfs": {"size": len(data), "sha256": hub.sha(repo, name), "pointerSize": 134},
                }
                for name, data in files.items()
            ]
            payload = json.dumps({"id": repo, "sha": COMMIT, "siblings": siblings}).encode()
            self._send(200, payload, {"Content-Type": "application/json"}, body)

        def _file(self, data: bytes, name: str, headers: dict[str, str], body: bool) -> None:
            rng = self.headers.get("Range")
            start = 0
            status = 200
            if rng and rng.startswith("bytes="):
                start = int(rng.removeprefix("bytes=").split("-", 1)[0])
                if start >= len(data):
                    hub.log.append((self.command, self.path, rng, 0))
                    return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, body)
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            chunk = data[start:]
            cut = hub.cut_after.pop(name, None) if body else None
            stall = hub.stall_after.pop(name, None) if body else None
            cut = stall if stall is not None else cut
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if not body:
                hub.log.append((self.command, self.path, rng, 0))
                return
            sent = chunk[:cut] if cut is not None else chunk
            try:
                self.wfile.write(sent)
                self.wfile.flush()
            except OSError:
                self.close_connection = True
                return
            hub.log.append((self.command, self.path, rng, len(sent)))
            if stall is not None:
                hub.release.wait(60)
            if cut is not None:
                self.close_connection = True

        def _error(self, status: int, code: str | None, body: bool) -> None:
            headers = {"X-Error-Code": code} if code else {}
            self._send(status, b'{"error": "not found"}', headers, body)

        def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if body:
                self.wfile.write(payload)

    return Handler
