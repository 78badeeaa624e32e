"""End-to-end checks of what the app factory wires: auth on every protected route, public routes,
request ids, the body cap, unknown routes, CORS."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.live import LiveServer

PROTECTED = [
    ("GET", "/v1/models", None),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "default", "messages": [{"role": "user", "content": "hi"}]},
    ),
    ("POST", "/graphql", {"query": "{ todos { id } }"}),
]
BAD_HEADERS = [
    {},
    {"Authorization": "Basic abc"},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer wrong-key"},
    {"Authorization": "bearerwrong-key"},
]


@pytest.mark.parametrize("method,path,body", PROTECTED)
def test_auth_matrix(live_server: LiveServer, method: str, path: str, body: object) -> None:
    for headers in BAD_HEADERS:
        r = httpx.request(method, live_server.url + path, json=body, headers=headers)
        assert r.status_code == 401, (path, headers, r.text)
        err = r.json()["error"]
        assert err["type"] == "authentication_error"
        assert err["code"] == "invalid_api_key"
        assert err["param"] is None and err["message"]
        assert "detail" not in r.json()
        assert live_server.api_key not in r.text


@pytest.mark.parametrize("form", ["Bearer {k}", "bearer {k}", "BEARER {k}", "bearer{k}"])
def test_accepted_header_forms(live_server: LiveServer, form: str) -> None:
    headers = {"Authorization": form.format(k=live_server.api_key)}
    assert httpx.get(live_server.url + "/v1/models", headers=headers).status_code == 200
    r = httpx.post(
        live_server.url + "/graphql", json={"query": "{ todos { id } }"}, headers=headers
    )
    assert r.status_code == 200 and r.json()["data"] == {"todos": []}


def test_public_routes(live_server: LiveServer) -> None:
    health = httpx.get(live_server.url + "/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["database"]["status"] == "ok"
    docs = httpx.get(live_server.url + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = httpx.get(live_server.url + "/openapi.json").json()
    assert "/v1/chat/completions" in schema["paths"] and "/v1/models" in schema["paths"]


def test_request_id_echoed_or_generated(live_server: LiveServer) -> None:
    r = httpx.get(live_server.url + "/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = httpx.get(live_server.url + "/v1/models")
    assert len(r.headers["x-request-id"]) >= 16


def test_unknown_route_is_an_envelope(live_server: LiveServer) -> None:
    r = httpx.get(live_server.url + "/v1/nope", headers=live_server.headers)
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_body_cap(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(extra_args=["--max-body-bytes", "4096"])
    big = {"model": "default", "messages": [{"role": "user", "content": "x" * 10_000}]}
    r = httpx.post(server.url + "/v1/chat/completions", json=big, headers=server.headers)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"

    def chunks():  # no Content-Length: the cap must hold while streaming the body in
        yield b'{"model": "default", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"y" * 1000
        yield b'"}]}'

    r = httpx.post(
        server.url + "/v1/chat/completions",
        content=chunks(),
        headers={**server.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert httpx.get(server.url + "/health").status_code == 200


def test_cors_off_by_default_and_allow_list(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    pre = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    r = httpx.options(server.url + "/v1/chat/completions", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    other = start_server(extra_args=["--cors-origin", "http://app.example"])
    ok = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    r = httpx.options(other.url + "/v1/chat/completions", headers=ok)
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    assert "access-control-allow-credentials" not in r.headers
    r = httpx.options(other.url + "/v1/chat/completions", headers=pre)
    assert "access-control-allow-origin" not in r.headers


def test_huge_headers_are_refused(live_server: LiveServer) -> None:
    r = httpx.get(live_server.url + "/health", headers={"X-Big": "a" * 100_000})
    assert r.status_code == 431
    assert r.json()["error"]["code"] == "headers_too_large"
    assert httpx.get(live_server.url + "/health").status_code == 200


def test_tune_gc_freezes_start_up_and_widens_the_young_generation() -> None:
    import gc

    from chatbot_cli.server.app import GC_YOUNG_THRESHOLD, tune_gc

    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
