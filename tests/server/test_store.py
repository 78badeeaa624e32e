"""Storing completions in-process: the write happens after the answer, off the event loop, and a
store that fails never breaks the answer: it is logged and counted in /metrics."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Connection

from chatbot_cli.db import conversations
from chatbot_cli.db.session import Database
from chatbot_cli.server import store as store_module
from tests.server.test_openai_serving import ScriptedEngine, body, client, make_app, sse_data

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("migrated_database")]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_failing_store_never_breaks_the_answer(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def down(self: Database, fn: Any) -> Any:
        raise OSError("database down")

    monkeypatch.setattr(Database, "write_off_loop", down)
    app = make_app(ScriptedEngine())
    async with client(app) as c:
        whole = await c.post("/v1/chat/completions", json=body(store=True))
        streamed = await c.post("/v1/chat/completions", json=body(store=True, stream=True))
        await app.state.openai_serving_chat.store.flush()
        metrics = (await c.get("/metrics")).text
    assert whole.status_code == 200 and whole.json()["choices"][0]["message"]["content"]
    assert streamed.status_code == 200 and sse_data(streamed.text)[-1] == "[DONE]"
    assert 'chatbot_stored_completions_total{outcome="error"} 2.0' in metrics
    assert "could not store completion" in caplog.text


async def test_the_write_runs_on_the_writer_thread_after_the_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[str] = []
    real = conversations.store_turns

    def spy(conn: Connection, turns: Any) -> None:
        threads.append(threading.current_thread().name)
        real(conn, turns)

    monkeypatch.setattr(store_module, "store_turns", spy)
    app = make_app(ScriptedEngine())
    async with client(app) as c:
        r = await c.post("/v1/chat/completions", json=body(store=True, stream=True))
        assert r.status_code == 200
        conversation = r.headers["x-conversation-id"]
        await app.state.openai_serving_chat.store.flush()
        metrics = (await c.get("/metrics")).text
        listed = (await c.get("/v1/chat/completions", params={"order": "desc"})).json()
    assert threads == ["chatbot-db-writer"]
    assert 'chatbot_stored_completions_total{outcome="ok"} 1.0' in metrics
    assert listed["data"][0]["conversation_id"] == conversation
    assert listed["data"][0]["choices"][0]["message"]["content"] == "Hello there!"


async def test_nothing_is_stored_without_store() -> None:
    app = make_app(ScriptedEngine())
    async with client(app) as c:
        r = await c.post("/v1/chat/completions", json=body())
        assert "x-conversation-id" not in r.headers
        await app.state.openai_serving_chat.store.flush()
        listed = (await c.get("/v1/chat/completions", params={"limit": 100})).json()
    assert r.json()["id"] not in [c["id"] for c in listed["data"]]


@pytest.mark.parametrize(
    ("extra", "status", "param"),
    [
        ({"conversation": "conv_x", "conversation_name": "n"}, 404, "conversation"),
        ({"conversation_name": "a\nb"}, 400, "conversation_name"),
        ({"metadata": {"k": 1}}, 400, "metadata.k"),
        ({"metadata": "text"}, 400, "metadata"),
    ],
)
async def test_refused_store_requests(extra: dict[str, Any], status: int, param: str) -> None:
    engine = ScriptedEngine()
    async with client(make_app(engine)) as c:
        r = await c.post("/v1/chat/completions", json=body(store=True, **extra))
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert engine.requests == []  # refused before anything was generated
