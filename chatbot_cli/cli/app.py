"""The root `chatbot` command: global options and the command groups."""

# Annotations stay objects, not strings (no `from __future__ import annotations`): typer reads
# every command's on each start (tests/cli/test_startup.py).

import typer

from chatbot_cli import __version__
from chatbot_cli.cli import chat, config, db, keys, log, mcp_cmd, models, serve, todo
from chatbot_cli.cli.common import GLOBAL, HELP_MARKUP, HELP_OPTIONS

app = typer.Typer(
    rich_markup_mode=HELP_MARKUP,
    name="chatbot",
    help="Chat with a local model and manage todos, from the terminal or over an "
    "OpenAI-compatible API.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings=HELP_OPTIONS,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chatbot {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    url: str | None = typer.Option(
        None, "--url", help="Server URL (overrides CHATBOT_URL and the config file)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", help="API key to send (overrides CHATBOT_API_KEY).", show_default=False
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Chat with a local model and manage todos."""
    GLOBAL.clear()
    if url is not None:
        GLOBAL["url"] = url
    if api_key is not None:
        GLOBAL["api_key"] = api_key


app.command("serve")(serve.serve)
app.command("chat")(chat.chat)
app.command("mcp")(mcp_cmd.mcp)
app.add_typer(todo.app, name="todo")
app.add_typer(config.app, name="config")
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(models.app, name="models")
app.add_typer(log.app, name="log")
