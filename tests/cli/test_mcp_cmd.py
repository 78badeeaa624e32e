"""`chatbot mcp` over stdio, driven by the official MCP SDK's own client: it starts the command
as MCP clients do and manages the todos of a real server through it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.live import LiveServer

pytestmark = pytest.mark.e2e


async def _over_stdio(env: dict[str, str]) -> Any:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "chatbot_cli", "mcp"], env=env
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        info = await session.initialize()
        tools = await session.list_tools()
        added = await session.call_tool("add_todo", {"title": "Water plants", "project": "home"})
        todo_id = added.structuredContent["added"]["id"]
        done = await session.call_tool("complete_todo", {"id": todo_id})
        await session.call_tool("add_todo", {"title": "Pay rent", "priority": "high"})
        pending = await session.read_resource("todos://pending")  # type: ignore[arg-type]
        bad = await session.call_tool("edit_todo", {"id": todo_id})
        deleted = await session.call_tool("delete_todo", {"id": todo_id})
        return info, tools, done, pending, bad, deleted


def test_stdio_server_manages_the_todos(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(model=None, extra_args=["--engine", "none"])
    info, tools, done, pending, bad, deleted = anyio.run(_over_stdio, server.env)
    assert info.serverInfo.name == "chatbot-todos"
    assert len(tools.tools) == 7
    assert done.structuredContent["completed"]["status"] == "done"
    assert [t["title"] for t in json.loads(pending.contents[0].text)["todos"]] == ["Pay rent"]
    assert bad.isError and "Nothing to change" in json.loads(bad.content[0].text)["error"]
    assert deleted.structuredContent["deleted"]["title"] == "Water plants"
    data = httpx.post(
        server.url + "/graphql", json={"query": "{ todos { title } }"}, headers=server.headers
    ).json()["data"]
    assert [t["title"] for t in data["todos"]] == ["Pay rent"]


def test_mcp_help_does_not_import_the_sdk() -> None:
    code = (
        "import sys\nsys.argv = ['chatbot', 'mcp', '--help']\n"
        "from chatbot_cli.cli.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('mcp' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.strip().splitlines()[-1] == "False"
    assert "MCP client" in result.stdout
