from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chatbot_cli.client import Client, _plain_http_ok
from chatbot_cli.errors import AuthenticationFailed, GraphQLError, Unreachable
from tests.live import free_port

PROXY_VARS = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def test_plain_transport_only_for_plain_http_without_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _plain_http_ok("https://chat.example") is False
    assert _plain_http_ok("http://127.0.0.1:8000") is True
    assert Client("http://127.0.0.1:8000", "k")._plain is not None
    assert Client("https://chat.example", "k")._plain is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert _plain_http_ok("http://127.0.0.1:8000") is False  # httpx applies proxy and NO_PROXY
    assert Client("http://127.0.0.1:8000", "k")._plain is None


class Scripted(BaseHTTPRequestHandler):
    """Answers every POST with the status and body queued on the server."""

    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body, headers = self.server.answers.pop(0)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def scripted() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    server.daemon_threads = True
    server.answers = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def clients(url: str) -> Iterator[Client]:
    """The same client twice: on the standard-library transport, then forced onto httpx."""
    plain = Client(url, "k", max_retries=1)
    assert plain._plain is not None
    yield plain
    forced = Client(url, "k", max_retries=1)
    forced._plain = None
    yield forced
    forced.close()


def test_both_transports_map_answers_the_same_way(scripted: Any) -> None:
    for client in clients(scripted.url):
        scripted.answers += [(200, {"data": {"todos": [{"id": 1}]}}, {})]
        assert client.graphql("{ todos { id } }") == {"todos": [{"id": 1}]}

        missing = {"message": "Todo 9 not found.", "extensions": {"code": "NOT_FOUND"}}
        scripted.answers += [(200, {"errors": [missing]}, {})]
        with pytest.raises(GraphQLError) as gql:
            client.graphql("mutation { deleteTodo(id: 9) { id } }")
        assert gql.value.code == "NOT_FOUND" and gql.value.exit_code == 5

        bad_key = {"message": "Bad key.", "type": "invalid_request_error", "code": "bad_key"}
        scripted.answers += [(401, {"error": bad_key}, {})]
        with pytest.raises(AuthenticationFailed):
            client.graphql("{ todos { id } }")

        # 503 is retried (Retry-After 0: at once), then the answer is used.
        scripted.answers += [(503, {"error": {"message": "busy"}}, {"Retry-After": "0"})]
        scripted.answers += [(200, {"data": {"ok": 1}}, {})]
        assert client.graphql("{ ok }") == {"ok": 1}
        assert scripted.answers == []


def test_unreachable_server_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for client in clients(url):
        with pytest.raises(Unreachable) as info:
            client.graphql("{ todos { id } }")
        assert f"Cannot reach the chatbot server at {url}" in info.value.message


def test_httpx_cli_skip_leaves_httpx_working() -> None:
    import subprocess
    import sys

    code = (
        "from chatbot_cli._fastimport import skip_httpx_cli; skip_httpx_cli();"
        "import sys, httpx; assert 'rich' not in sys.modules and 'click' not in sys.modules;"
        "assert httpx.Client().timeout is not None; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_a_429_is_not_retried_and_keeps_its_retry_after(scripted: Any) -> None:
    from chatbot_cli.errors import RateLimitExceeded

    limited = {
        "message": "Rate limit reached for key 'bob': 2 requests per minute. Try again in 42 s.",
        "type": "rate_limit_exceeded",
        "param": None,
        "code": "requests_per_minute",
    }
    for client in clients(scripted.url):
        scripted.answers += [(429, {"error": limited}, {"Retry-After": "42"})]
        with pytest.raises(RateLimitExceeded) as caught:
            client.graphql("{ todos { id } }")
        assert caught.value.retry_after == 42 and caught.value.exit_code == 6
        assert caught.value.code == "requests_per_minute"
        assert "Try again in 42 s" in caught.value.message
        assert scripted.answers == []  # one request: the CLI says when, it does not wait


def test_a_429_or_503_says_when_to_retry_even_if_its_message_does_not(scripted: Any) -> None:
    """A proxy or another OpenAI-compatible server may say when only in Retry-After; the CLI's
    one line must still say it (issue 17), and a message that already says it is kept as is."""
    from chatbot_cli.errors import Overloaded, RateLimitExceeded

    for client in clients(scripted.url):
        scripted.answers += [
            (429, {"error": {"message": "Too Many Requests"}}, {"Retry-After": "17"}),
            (429, "<html>429</html>", {}),
            (503, {"error": {"message": "Busy. Try again later."}}, {"Retry-After": "3"}),
        ]
        with pytest.raises(RateLimitExceeded) as caught:
            client.graphql("{ todos { id } }")
        assert caught.value.message == "Too Many Requests. Try again in 17 s."
        assert caught.value.retry_after == 17 and caught.value.exit_code == 6
        with pytest.raises(RateLimitExceeded) as caught:
            client.graphql("{ todos { id } }")
        assert caught.value.message == "HTTP 429. Try again later."
        client.max_retries = 0
        with pytest.raises(Overloaded) as busy:
            client.graphql("{ todos { id } }")
        assert busy.value.message == "Busy. Try again later."
        assert scripted.answers == []
