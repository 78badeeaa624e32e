"""The MCP server's tools and resource over the SDK's in-memory transport, with a recorded
GraphQL runner: what MCP clients see of the one tool definition (the transports are tested end
to end in tests/server/test_mcp_http.py and tests/cli/test_mcp_cmd.py)."""

from __future__ import annotations

import json
from typing import Any

import anyio
from mcp.shared.memory import create_connected_server_and_client_session

from chatbot_cli.mcp_server import PENDING_URI, build_server
from chatbot_cli.todo_tools import TOOLS

TODO = {"id": 1, "title": "Buy milk", "completed": False, "due": None, "priority": "LOW",
        "tags": [], "project": None, "notes": None}  # fmt: skip


def test_tools_resource_and_errors() -> None:
    sent: list[dict[str, Any]] = []

    def graphql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        sent.append(variables)
        if "todosConnection" in query:
            return {"todosConnection": {"nodes": [TODO], "pageInfo": {"hasNextPage": False}}}
        return {"createTodo": TODO}

    async def session_steps() -> Any:
        server = build_server(lambda _: graphql)
        async with create_connected_server_and_client_session(server) as session:
            tools = await session.list_tools()
            added = await session.call_tool("add_todo", {"title": "Buy milk", "priority": "low"})
            refused = await session.call_tool("add_todo", {"title": ""})
            resource = await session.read_resource(PENDING_URI)  # type: ignore[arg-type]
            return tools, added, refused, resource

    tools, added, refused, resource = anyio.run(session_steps)
    assert [t.name for t in tools.tools] == list(TOOLS)
    for tool in tools.tools:
        assert tool.inputSchema == TOOLS[tool.name]["parameters"]
        assert tool.annotations.readOnlyHint is (tool.name == "list_todos")
    expected = {"id": 1, "title": "Buy milk", "status": "pending", "priority": "low"}
    assert added.structuredContent == {"added": expected}
    assert refused.isError and "(title)" in json.loads(refused.content[0].text)["error"]
    assert json.loads(resource.contents[0].text)["todos"][0]["title"] == "Buy milk"
    assert sent[0]["priority"] == "LOW" and len(sent) == 2  # the refused call sent nothing
