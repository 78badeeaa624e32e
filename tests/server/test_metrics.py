"""/metrics: public, per-app registry, request counts by route template, token and latency
instruments, engine gauges read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import LiveServer
from tests.server.test_openai_serving import ScriptedEngine, client, make_app


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.anyio
@pytest.mark.usefixtures("migrated_database")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_each_app_has_its_own_registry(anyio_backend: str) -> None:
    first, second = make_app(ScriptedEngine()), make_app(ScriptedEngine())
    body = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}
    async with client(first) as c:
        assert (await c.post("/v1/chat/completions", json=body)).status_code == 200
        one = (await c.get("/metrics")).text
    async with client(second) as c:
        other = (await c.get("/metrics")).text
    assert value(one, "chatbot_tokens_generated_total") == 3
    assert value(other, "chatbot_tokens_generated_total") == 0
    assert value(one, "chatbot_engine_slots") == 4


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(home=tmp_path_factory.mktemp("metrics"), model=tiny_model).start()
    yield live
    live.kill()


@pytest.mark.e2e
def test_metrics_end_to_end(server: LiveServer) -> None:
    before = httpx.get(server.url + "/metrics")  # public: no key needed
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    url = server.url + "/v1/chat/completions"
    msgs = [{"role": "user", "content": "hi"}]
    assert (
        httpx.post(
            url,
            json={"model": "default", "messages": msgs, "max_tokens": 7},
            headers=server.headers,
        ).status_code
        == 200
    )
    with httpx.stream(
        "POST",
        url,
        json={"model": "default", "messages": msgs, "max_tokens": 5, "stream": True},
        headers=server.headers,
    ) as r:
        r.read()
    assert (
        httpx.post(url, json={"model": "x", "messages": msgs}, headers=server.headers).status_code
        == 404
    )
    httpx.get(server.url + "/no/such/path")
    after = httpx.get(server.url + "/metrics").text

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before.text, name, **labels)

    assert delta("chatbot_tokens_generated_total") == 12
    assert (
        delta(
            "chatbot_http_requests_total", route="/v1/chat/completions", method="POST", status="200"
        )
        == 2
    )
    assert (
        delta(
            "chatbot_http_requests_total", route="/v1/chat/completions", method="POST", status="404"
        )
        == 1
    )
    assert (
        delta("chatbot_http_requests_total", route="<unmatched>", method="GET", status="404") == 1
    )
    assert delta("chatbot_chat_completions_total", stream="false", outcome="ok") == 1
    assert delta("chatbot_chat_completions_total", stream="true", outcome="ok") == 1
    assert delta("chatbot_time_to_first_token_seconds_count", stream="true") == 1
    assert delta("chatbot_time_to_first_token_seconds_count", stream="false") == 1
    assert delta("chatbot_chat_completion_duration_seconds_count", stream="true") == 1
    assert value(after, "chatbot_engine_slots") >= 1
    assert value(after, "chatbot_engine_busy_slots") == 0
    assert value(after, "chatbot_engine_queue_depth") == 0


@pytest.mark.e2e
def test_graphql_counted_under_its_route_and_operation_type(server: LiveServer) -> None:
    before = httpx.get(server.url + "/metrics").text
    url, headers = server.url + "/graphql", server.headers
    assert httpx.post(url, json={"query": "{ todos { id } }"}, headers=headers).status_code == 200
    assert httpx.get(url, params={"query": "{ todos { id } }"}, headers=headers).status_code == 200
    made = httpx.post(
        url, json={"query": 'mutation { createTodo(title: "m") { id } }'}, headers=headers
    )
    assert made.status_code == 200 and "errors" not in made.json()
    failed = httpx.post(url, json={"query": "{ todo(id: 999999) { id } }"}, headers=headers)
    assert failed.status_code == 200 and failed.json()["errors"]
    garbled = httpx.post(url, json={"query": "{ todos {"}, headers=headers)
    assert garbled.json()["errors"]
    two = httpx.post(
        url, json={"query": "query A { todos { id } } query B { todos { id } }"}, headers=headers
    )
    assert two.json()["errors"]
    assert httpx.post(url, json={"query": "{ todos { id } }"}).status_code == 401
    after = httpx.get(server.url + "/metrics").text

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "chatbot_http_requests_total"
    assert delta(requests, route="/graphql", method="POST", status="200") == 5
    assert delta(requests, route="/graphql", method="GET", status="200") == 1
    assert delta(requests, route="/graphql", method="POST", status="401") == 1
    assert delta(requests, route="<unmatched>", method="POST", status="200") == 0
    operations = "chatbot_graphql_operations_total"
    assert delta(operations, operation="query", outcome="ok") == 2
    assert delta(operations, operation="mutation", outcome="ok") == 1
    assert delta(operations, operation="query", outcome="error") == 1
    assert delta(operations, operation="unknown", outcome="error") == 2
