"""`chatbot serve --workers 2`: two worker processes on one port, each serving on its own, and
both seeing the same todos (SQLite file or PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.live import LiveServer, workers_of
from tests.scale.pgcluster import fresh_database, run_admin

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "postgresql"])
def database_args(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    if request.param == "sqlite":
        yield []  # the default: chatbot.db in the server's data dir, shared by the workers
        return
    # As a flag: `serve` must hand it on to the worker processes.
    for url in fresh_database():
        yield ["--database-url", url]


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """SIGSTOP a worker so every new connection goes to the other one. Kept well under
    uvicorn's 5 s worker health check, which would replace a worker that stays silent."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def post(server: LiveServer, query: str) -> dict:
    # A new connection per request: a kept-alive one would stay with the worker that took it.
    response = httpx.post(
        server.url + "/graphql", json={"query": query}, headers=server.headers, timeout=10
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def test_two_workers_serve_and_share_todos(
    start_server: Callable[..., LiveServer], database_args: list[str]
) -> None:
    server = start_server(extra_args=["--workers", "2", *database_args])
    assert server.proc is not None
    deadline = time.monotonic() + 30
    while len(pids := workers_of(server.proc.pid)) < 2:
        assert time.monotonic() < deadline, f"workers: {pids}\n{server.log()}"
        time.sleep(0.1)
    first, second = pids

    def wait_ready() -> None:
        # Both workers answer /health once their lifespans are done.
        end = time.monotonic() + 30
        while True:
            try:
                if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < end, server.log()
            time.sleep(0.1)

    # Those two really are the servers: with both paused, nobody answers.
    with paused(first), paused(second), pytest.raises(httpx.TimeoutException):
        httpx.get(server.url + "/health", timeout=1)
    with paused(second):
        wait_ready()
        made = post(server, 'mutation { createTodo(title: "by the first worker") { id } }')
    with paused(first):
        wait_ready()
        seen = post(server, "{ todos(limit: 1000) { id title } }")["todos"]
        assert seen == [{"id": made["createTodo"]["id"], "title": "by the first worker"}]
        post(
            server,
            f"mutation {{ updateTodo(id: {made['createTodo']['id']}, completed: true) {{ id }} }}",
        )
    with paused(second):
        done = post(server, "{ todos(completed: true, limit: 1000) { title } }")["todos"]
        assert done == [{"title": "by the first worker"}]

    # Both at once, many connections: every write acknowledged and stored once.
    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=server.url, headers=server.headers, timeout=60, limits=limits
        ) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/graphql",
                        json={"query": f'mutation {{ createTodo(title: "w{i}") {{ id }} }}'},
                    )
                    for i in range(100)
                )
            )

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 and "errors" not in r.json() for r in responses)
    assert len(post(server, "{ todos(limit: 1000) { id } }")["todos"]) == 101
    assert workers_of(server.proc.pid) == pids  # neither worker was replaced
    assert "database is locked" not in server.log()
    if database_args:  # the workers really used PostgreSQL, not a SQLite file of their own
        assert run_admin(database_args[1], "SELECT count(*) FROM todos") == 101
