"""The MCP server (`chatbot_cli/mcp_server.py`) over streamable HTTP at /mcp, behind the same
bearer auth as /v1 and /graphql.

Stateless with JSON responses: every POST carries its own key and is answered whole, so any
worker process can answer any request and nothing is kept between requests. A caller's tools run
through the GraphQL schema in-process, as the owner of the presented key, exactly as its /graphql
requests would.

The `mcp` SDK loads on the first /mcp request, not at start-up: most servers never get one. Its
session manager then runs in a task group the lifespan owns (`mcp_running`), so it stops with
the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.routing import Route

from chatbot_cli.errors import ChatbotError, Overloaded, from_graphql_errors
from chatbot_cli.server.errors import chatbot_error_response

if TYPE_CHECKING:
    from anyio.abc import TaskGroup, TaskStatus
    from fastapi import FastAPI
    from mcp.server.lowlevel import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.types import Receive, Scope, Send

    from chatbot_cli.todo_tools import GraphQL

MCP_PATH = "/mcp"


class MCPEndpoint:
    """The ASGI endpoint: authenticate, then hand the request to the session manager."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.tasks: TaskGroup | None = None  # set by mcp_running while the server runs
        self._manager: StreamableHTTPSessionManager | None = None
        self._starting = anyio.Lock()
        self._schema: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        try:
            owner = await self.app.state.authenticator.owner_for(
                request.headers.get("authorization")
            )
            manager = await self.manager()
        except ChatbotError as exc:
            await chatbot_error_response(exc)(scope, receive, send)
            return
        request.state.owner = owner  # read back by graphql_for, and by the access log
        await manager.handle_request(scope, receive, send)

    async def manager(self) -> StreamableHTTPSessionManager:
        async with self._starting:
            if self._manager is None:
                if self.tasks is None:
                    raise Overloaded("The MCP endpoint is not running (the server is stopping).")
                from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

                from chatbot_cli.graphql.schema import create_schema
                from chatbot_cli.mcp_server import build_server

                self._schema = create_schema()
                manager = StreamableHTTPSessionManager(
                    app=build_server(self.graphql_for), stateless=True, json_response=True
                )
                await self.tasks.start(_run_manager, manager)
                self._manager = manager
            return self._manager

    def graphql_for(self, server: Server[Any, Any]) -> GraphQL:
        request = server.request_context.request
        owner = getattr(getattr(request, "state", None), "owner", None)
        if owner is None:
            raise ChatbotError("The request carries no authenticated owner.")
        context = {"database": self.app.state.database, "owner": owner}
        schema = self._schema

        def run(query: str, variables: dict[str, Any]) -> dict[str, Any]:
            # Called in a worker thread (tool calls block): the schema runs on the event loop.
            execute = partial(
                schema.execute, query, variable_values=variables, context_value=context
            )
            result = anyio.from_thread.run(execute)
            if result.errors:
                raise from_graphql_errors([e.formatted for e in result.errors], "GraphQL error")
            return dict(result.data or {})

        return run


async def _run_manager(
    manager: StreamableHTTPSessionManager, *, task_status: TaskStatus[None]
) -> None:
    async with manager.run():
        task_status.started()
        await anyio.sleep_forever()


def install_mcp(app: FastAPI) -> None:
    """Route /mcp to the MCP endpoint; `mcp_running` (in the lifespan) lets it start."""
    endpoint = MCPEndpoint(app)
    app.state.mcp_endpoint = endpoint
    # An ASGI endpoint on a Route, not a Mount: a Mount would redirect /mcp to /mcp/.
    route = Route(MCP_PATH, endpoint, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    app.router.routes.append(route)


@asynccontextmanager
async def mcp_running(app: FastAPI) -> AsyncIterator[None]:
    endpoint: MCPEndpoint | None = getattr(app.state, "mcp_endpoint", None)
    if endpoint is None:
        yield
        return
    async with anyio.create_task_group() as tasks:
        endpoint.tasks = tasks
        try:
            yield
        finally:
            endpoint.tasks = None
            tasks.cancel_scope.cancel()
