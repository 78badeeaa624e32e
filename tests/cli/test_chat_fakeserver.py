"""`chatbot chat` against a scripted HTTP server, for what a real one will not do on demand:
a stream cut off mid-way, an error event inside a stream, 503 busy answers, slow streams.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Responder = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [{"id": "default"}, {"id": "other"}]})
        else:
            self.send_json(404, {"error": {"message": "no route", "type": "x", "code": None}})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append(json.loads(self.rfile.read(length) or b"null"))
        responder = self.server.responders.pop(0) if self.server.responders else sse(["ok"])
        responder(self)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        # Where a chatbot server stored the turn (it was sent with store: true).
        self.send_header("x-conversation-id", "conv_fake")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def event(self, data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def delta(self, text: str, finish: str | None = None) -> None:
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "default",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
        }
        self.event(json.dumps(chunk))

    def end_sse(self) -> None:
        self.event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[Any] = []
        self.responders: list[Responder] = []
        self.disconnected = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def sse(parts: list[str], *, done: bool = True, usage: dict[str, int] | None = None) -> Responder:
    def respond(h: Handler) -> None:
        h.start_sse()
        for i, part in enumerate(parts):
            h.delta(part, "stop" if done and i == len(parts) - 1 else None)
        if usage:
            h.event(json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0,
                                "model": "default", "choices": [], "usage": usage}))  # fmt: skip
        if done:
            h.end_sse()
        else:
            # Cut off: no [DONE], no final chunk of the chunked encoding, connection dropped.
            h.close_connection = True

    return respond


def slow_sse(interval: float = 0.02) -> Responder:
    """Streams words until the client goes away (or 30 s), then records the disconnect."""

    def respond(h: Handler) -> None:
        h.start_sse()
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                h.delta("word ")
                time.sleep(interval)
        except OSError:
            h.server.disconnected.set()
        h.close_connection = True

    return respond


def error_json(status: int, message: str, headers: dict[str, str] | None = None) -> Responder:
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    return lambda h: h.send_json(status, body, headers)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def fake_env(server: FakeServer) -> dict[str, str]:
    return {**os.environ, "CHATBOT_URL": server.url, "CHATBOT_API_KEY": "sk-fake"}


def run_chat(server: FakeServer, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "chat", *args],
        env=fake_env(server),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_options_become_the_request_body(fake: FakeServer) -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    fake.responders.append(sse(["Hi", " there"], usage=usage))
    proc = run_chat(
        fake, "hello", "-m", "other", "-s", "Be brief.", "--temperature", "0.5", "--top-p",
        "0.9", "--max-tokens", "12", "--stop", "END", "--stop", "###", "--seed", "3", "--usage",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hi there\n"
    assert proc.stderr == "usage: prompt_tokens=5 completion_tokens=2 total_tokens=7\n"
    assert fake.requests == [
        {
            "model": "other",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hello"},
            ],
            "temperature": 0.5,
            "top_p": 0.9,
            "max_tokens": 12,
            "seed": 3,
            "stop": ["END", "###"],
            "stream_options": {"include_usage": True},
            "store": True,
            "stream": True,
        }
    ]


def test_stream_cut_off_midway_keeps_the_partial_answer(fake: FakeServer) -> None:
    fake.responders.append(sse(["The first", " half"], done=False))
    proc = run_chat(fake, "hello")
    assert proc.returncode == 1
    assert proc.stdout == "The first half\n"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "interrupted" in lines[0]


def test_error_event_inside_the_stream(fake: FakeServer) -> None:
    def respond(h: Handler) -> None:
        h.start_sse()
        h.delta("Partial")
        h.event(json.dumps({"error": {"message": "The engine failed.", "type": "server_error"}}))
        h.end_sse()

    fake.responders.append(respond)
    proc = run_chat(fake, "hello")
    assert proc.returncode == 1
    assert proc.stdout == "Partial\n"
    assert proc.stderr == "Error: The engine failed.\n"


def test_busy_server_is_retried_honouring_retry_after(fake: FakeServer) -> None:
    fake.responders += [error_json(503, "All slots busy.", {"Retry-After": "1"}), sse(["done"])]
    start = time.monotonic()
    proc = run_chat(fake, "hello")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "done\n"
    assert len(fake.requests) == 2
    assert time.monotonic() - start >= 1.0  # waited as the server asked


def test_busy_server_gives_up_with_exit_6(fake: FakeServer) -> None:
    fake.responders += [error_json(503, "All slots busy.", {"Retry-After": "1"})] * 3
    proc = run_chat(fake, "hello", "--no-stream")
    assert proc.returncode == 6
    assert proc.stdout == ""
    assert proc.stderr == "Error: All slots busy. Try again in 1 s.\n"
    assert len(fake.requests) == 3


def test_a_429_is_one_line_saying_when_to_retry_exit_6(fake: FakeServer) -> None:
    """Not retried: a key's limit will not lift within the CLI's retries (issue 17)."""
    fake.responders.append(error_json(429, "Too Many Requests", {"Retry-After": "17"}))
    proc = run_chat(fake, "hello")
    assert proc.returncode == 6 and proc.stdout == ""
    assert proc.stderr == "Error: Too Many Requests. Try again in 17 s.\n"
    assert len(fake.requests) == 1


def test_no_stream_prints_when_done(fake: FakeServer) -> None:
    completion = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "default",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "**Whole** answer"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }  # fmt: skip
    fake.responders.append(lambda h: h.send_json(200, completion))
    proc = run_chat(fake, "hello", "--no-stream", "--usage")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "**Whole** answer\n"
    assert proc.stderr == "usage: prompt_tokens=1 completion_tokens=2 total_tokens=3\n"
    assert fake.requests[0]["stream"] is False and "stream_options" not in fake.requests[0]

    fake.responders.append(lambda h: h.send_json(200, completion))
    proc = run_chat(fake, "hello", "--json")
    assert json.loads(proc.stdout) == completion


def test_unknown_model_lists_the_ids_once(fake: FakeServer) -> None:
    """Our server already names the available models; the CLI adds them only when a server
    does not (issue 22, item 11: they were printed twice)."""
    said = "The model 'nope' does not exist. Available models: default, other"
    for message in (said, "The model 'nope' does not exist."):
        body = {"error": {"message": message, "type": "invalid_request_error",
                          "param": "model", "code": "model_not_found"}}  # fmt: skip
        fake.responders.append(lambda h, body=body: h.send_json(404, body))
        proc = run_chat(fake, "-m", "nope", "hi")
        assert proc.returncode == 5
        assert proc.stderr.rstrip(".\n") == f"Error: {said}"
