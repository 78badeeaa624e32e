"""`chatbot mcp`: the todo tools as an MCP server on stdin/stdout, for MCP clients that start
their servers as commands (Claude Desktop, Cursor). It executes through the API of the server
the CLI is configured for, with the configured key, like `chatbot todo`.

The `mcp` SDK is imported inside the command: other commands never pay for it.
"""

# Annotations stay objects, not strings (no `from __future__ import annotations`): typer reads
# every command's on each start (tests/cli/test_startup.py).

import threading
from typing import Any

import typer


def mcp(
    url: str | None = typer.Option(None, "--url", help="Server URL (overrides config)."),
    api_key: str | None = typer.Option(
        None, "--api-key", help="API key to send (overrides config).", show_default=False
    ),
) -> None:
    """Serve your todos to an MCP client over stdio (list, add, complete, edit, delete; the
    pending list as a resource). `chatbot serve` also offers them at /mcp over HTTP."""
    import anyio

    from chatbot_cli.cli.common import make_client
    from chatbot_cli.mcp_server import run_stdio

    client = make_client(url, api_key)
    lock = threading.Lock()

    def graphql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        # Calls may come from several worker threads; the client sends one request at a time.
        with lock:
            return client.graphql(query, variables)

    try:
        anyio.run(run_stdio, graphql)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
