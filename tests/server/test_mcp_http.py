"""/mcp on a real `chatbot serve`, driven by the official MCP SDK's own client over streamable
HTTP: the todo tools, the pending list as a resource, and the same bearer auth as /graphql."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server(model=None, extra_args=["--engine", "none"])


async def _session_run(url: str, key: str, steps: Callable[[ClientSession], Any]) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url + "/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        return await steps(session)


def run(server: LiveServer, steps: Callable[[ClientSession], Any], key: str | None = None) -> Any:
    return anyio.run(_session_run, server.url, key or server.api_key, steps)


def graphql(server: LiveServer, query: str) -> dict[str, Any]:
    response = httpx.post(server.url + "/graphql", json={"query": query}, headers=server.headers)
    return dict(response.json()["data"])


def test_tools_and_resource_over_http(server: LiveServer) -> None:
    async def steps(session: ClientSession) -> Any:
        tools = await session.list_tools()
        added = await session.call_tool(
            "add_todo",
            {"title": "Buy milk", "priority": "high", "tags": ["shop"], "due": "2030-01-02"},
        )
        await session.call_tool("add_todo", {"title": "Call mom"})
        listed = await session.call_tool("list_todos", {"search": "milk"})
        resources = await session.list_resources()
        pending = await session.read_resource("todos://pending")  # type: ignore[arg-type]
        return tools, added, listed, resources, pending

    tools, added, listed, resources, pending = run(server, steps)
    by_name = {t.name: t for t in tools.tools}
    assert set(by_name) >= {"list_todos", "add_todo", "complete_todo", "delete_todo"}
    assert by_name["delete_todo"].annotations.destructiveHint is True
    assert by_name["add_todo"].inputSchema["required"] == ["title"]
    assert not added.isError
    todo = added.structuredContent["added"]
    assert todo["title"] == "Buy milk" and todo["priority"] == "high" and todo["tags"] == ["shop"]
    assert todo["due"].startswith("2030-01-02")
    assert [t["title"] for t in listed.structuredContent["todos"]] == ["Buy milk"]
    assert [str(r.uri) for r in resources.resources] == ["todos://pending"]
    body = json.loads(pending.contents[0].text)
    assert {t["title"] for t in body["todos"]} == {"Buy milk", "Call mom"}
    # The tools changed the same list /graphql shows.
    titles = {t["title"] for t in graphql(server, "{ todos { title } }")["todos"]}
    assert titles == {"Buy milk", "Call mom"}


def test_bad_arguments_are_a_tool_error_and_change_nothing(server: LiveServer) -> None:
    async def steps(session: ClientSession) -> Any:
        return [
            await session.call_tool("add_todo", {"title": "x", "priority": "urgent"}),
            await session.call_tool("add_todo", {"title": "x", "due": "the day after never"}),
            await session.call_tool("complete_todo", {"id": 999}),
            await session.call_tool("no_such_tool", {}),
        ]

    results = run(server, steps)
    assert all(r.isError for r in results)
    texts = [json.loads(r.content[0].text)["error"] for r in results]
    assert "priority" in texts[0]
    assert "date" in texts[1]
    assert "not found" in texts[2]
    assert "Unknown tool" in texts[3]
    assert graphql(server, "{ todos { id } }")["todos"] == []


def test_mcp_needs_the_bearer_key(server: LiveServer) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    response = httpx.post(server.url + "/mcp", json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    wrong = {**headers, "Authorization": "Bearer sk-wrong-0123456789"}
    assert httpx.post(server.url + "/mcp", json=body, headers=wrong).status_code == 401
