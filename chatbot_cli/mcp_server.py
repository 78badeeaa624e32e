"""The todo tools as an MCP server (the official `mcp` SDK's low-level `Server`), for MCP clients
such as Claude Desktop or Cursor: the tools of `todo_tools.py` with their JSON schemas as they
are, and the pending list as the resource `todos://pending`.

The same server runs over two transports: stdio (`chatbot mcp`, executing through the HTTP API
with the configured key) and streamable HTTP on `chatbot serve` at /mcp (`server/mcp_http.py`,
executing in-process as the caller's key). Each is given a `graphql_for` that returns the GraphQL
runner of the current request; tool calls run it in a worker thread, as it blocks.

The low-level server rather than FastMCP: FastMCP derives a tool's schema from a Python
signature, and the chat already has the schemas; one definition serves both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.helper_types import ReadResourceContents

from chatbot_cli import __version__
from chatbot_cli.todo_tools import (
    DESTRUCTIVE,
    TOOLS,
    compact,
    fetch_pending,
    run_tool,
)

if TYPE_CHECKING:
    from pydantic import AnyUrl

    from chatbot_cli.todo_tools import GraphQL

PENDING_URI = "todos://pending"
INSTRUCTIONS = (
    "Manage the user's todo list: list_todos finds todos and their ids; add_todo, "
    "complete_todo, reopen_todo, edit_todo and delete_todo change them. The resource "
    f"{PENDING_URI} holds the pending todos, most urgent first."
)


def tool_list() -> list[types.Tool]:
    return [
        types.Tool(
            name=name,
            description=spec["description"],
            inputSchema=spec["parameters"],
            annotations=types.ToolAnnotations(
                readOnlyHint=name == "list_todos",
                destructiveHint=name in DESTRUCTIVE,
                openWorldHint=False,
            ),
        )
        for name, spec in TOOLS.items()
    ]


def build_server(graphql_for: Callable[[Server[Any, Any]], GraphQL]) -> Server[Any, Any]:
    """The MCP server; `graphql_for(server)` gives the GraphQL runner of the request in hand."""
    server: Server[Any, Any] = Server(
        "chatbot-todos", version=__version__, instructions=INSTRUCTIONS
    )

    @server.list_tools()  # type: ignore[no-untyped-call,untyped-decorator]
    async def _list_tools() -> list[types.Tool]:
        return tool_list()

    # Our own validation (in run_tool) names the field and never runs a call half-way.
    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def _call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        graphql = graphql_for(server)
        result = await anyio.to_thread.run_sync(run_tool, graphql, name, arguments)
        text = types.TextContent(type="text", text=result.content())
        if result.error is not None:
            return types.CallToolResult(content=[text], isError=True)
        return types.CallToolResult(content=[text], structuredContent=result.result)

    @server.list_resources()  # type: ignore[no-untyped-call,untyped-decorator]
    async def _list_resources() -> list[types.Resource]:
        return [
            types.Resource(
                uri=PENDING_URI,  # type: ignore[arg-type]
                name="pending",
                title="Pending todos",
                description="The pending todos, most urgent first (at most 100).",
                mimeType="application/json",
            )
        ]

    @server.read_resource()  # type: ignore[no-untyped-call,untyped-decorator]
    async def _read_resource(uri: AnyUrl) -> Iterable[ReadResourceContents]:
        if str(uri) != PENDING_URI:
            raise ValueError(f"Unknown resource {uri}; the one resource is {PENDING_URI}.")
        graphql = graphql_for(server)
        todos, more = await anyio.to_thread.run_sync(fetch_pending, graphql)
        body = {"todos": [compact(t) for t in todos], "more": more}
        text = json.dumps(body, ensure_ascii=False)
        return [ReadResourceContents(content=text, mime_type="application/json")]

    return server


async def run_stdio(graphql: GraphQL) -> None:
    """Serve one MCP client on stdin/stdout until it closes them."""
    from mcp.server.stdio import stdio_server

    server = build_server(lambda _: graphql)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
