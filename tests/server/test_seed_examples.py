"""The seed document's streaming examples (docs: ../shared/seed/api.md), run exactly as written:
only the URL's port and the key are substituted. A recording proxy between the example and the
server captures the raw response, and the example's output must equal the text that was sent."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.live import LiveServer

# Verbatim from the seed document, "Example: Python Client for Streaming".
SEED_PYTHON = """import requests
import json

def stream_chat_completion(model, messages):
    url = "http://localhost:8000/v1/chat/completions"
    headers = {
        "Content-Type": "application/json",
        "Authorization": "beareryour_api_key_here"
    }
    data = {
        "model": model,
        "messages": messages,
        "stream": True
    }

    with requests.post(url, json=data, headers=headers, stream=True) as response:
        for line in response.iter_lines():
            if line:
                decoded_line = line.decode('utf-8')
                if decoded_line.startswith("data: "):
                    chunk = json.loads(decoded_line[6:])
                    yield chunk
                elif decoded_line == "data: [DONE]":
                    break

# Usage
messages = [{"role": "user", "content": "Tell me a joke"}]
for chunk in stream_chat_completion("default", messages):
    print(chunk['choices'][0]['delta']['content'], end='', flush=True)
"""

SEED_JS = Path(__file__).with_name("seed_client.js")
SEED_URL = "http://localhost:8000"
SEED_KEY = "your_api_key_here"


class RecordingProxy:
    """Forwards TCP connections to the server and keeps the bytes the server sent back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.responses: list[bytearray] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            record = bytearray()
            self.responses.append(record)
            for src, dst, rec in ((client, upstream, None), (upstream, client, record)):
                t = threading.Thread(target=self._pump, args=(src, dst, rec), daemon=True)
                t.start()
                self._threads.append(t)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, record: bytearray | None) -> None:
        try:
            while data := src.recv(65536):
                if record is not None:
                    record.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()
        for t in self._threads:
            t.join(5)


class _Recorded:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def streamed_contents(raw: bytes) -> list[str]:
    """The delta contents of a recorded HTTP response, de-chunked by http.client."""
    response = http.client.HTTPResponse(_Recorded(raw))  # type: ignore[arg-type]
    response.begin()
    assert response.status == 200
    body = response.read().decode()
    assert body.endswith("data:[DONE]\n\n")
    contents = []
    for line in body.split("\n"):
        if line.startswith("data: "):
            contents.append(json.loads(line[6:])["choices"][0]["delta"]["content"])
    return contents


def _substitute(source: str, proxy: RecordingProxy, key: str) -> str:
    assert source.count(SEED_URL) == 1 and source.count(SEED_KEY) == 1
    return source.replace(SEED_URL, f"http://localhost:{proxy.port}").replace(SEED_KEY, key)


def _run(args: list[str], live: LiveServer) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=live.env)


@pytest.fixture
def seed_server(start_server: Callable[..., LiveServer]) -> LiveServer:
    # The seed examples set no max_tokens, so the tiny model writes until its context is full:
    # a small context keeps that quick on a loaded machine.
    return start_server(extra_args=["--n-ctx", "256"])


def test_seed_python_example(seed_server: LiveServer, tmp_path: Path) -> None:
    live_server = seed_server
    proxy = RecordingProxy(live_server.port)
    try:
        script = tmp_path / "seed_client.py"
        script.write_text(_substitute(SEED_PYTHON, proxy, live_server.api_key))
        done = _run([sys.executable, str(script)], live_server)
    finally:
        proxy.close()
    assert done.returncode == 0, done.stderr
    (raw,) = proxy.responses
    contents = streamed_contents(bytes(raw))
    assert len(contents) >= 3
    assert done.stdout == "".join(contents) and done.stdout


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_seed_javascript_example(seed_server: LiveServer, tmp_path: Path) -> None:
    live_server = seed_server
    proxy = RecordingProxy(live_server.port)
    try:
        script = tmp_path / "seed_client.js"
        script.write_text(_substitute(SEED_JS.read_text(), proxy, live_server.api_key))
        done = _run(["node", str(script)], live_server)
    finally:
        proxy.close()
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    (raw,) = proxy.responses
    contents = streamed_contents(bytes(raw))
    assert len(contents) >= 3
    assert done.stdout == "".join(c + "\n" for c in contents)
