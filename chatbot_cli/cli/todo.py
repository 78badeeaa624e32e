"""`chatbot todo`: todos on the server, over GraphQL.

Used in shell loops, so it must start fast: only typer at import time; the HTTP client inside the
commands, rich only when drawing a table on a terminal.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from chatbot_cli.cli.common import (
    HELP_MARKUP,
    HELP_OPTIONS,
    fail,
    handle_errors,
    is_tty,
    make_client,
    print_json,
)

app = typer.Typer(
    rich_markup_mode=HELP_MARKUP,
    help="Add, list, complete and remove todos (talks to `chatbot serve`).",
    no_args_is_help=True,
    # Also run on its own (`cli/entry.py`), where the root's settings are not inherited and
    # completion is the root's business.
    context_settings=HELP_OPTIONS,
    add_completion=False,
)

FIELDS = "id title completed createdAt updatedAt"
JSON_HELP = "Print JSON instead of text."

Q_LIST = f"""query ($completed: Boolean, $search: String, $limit: Int) {{
  todos(completed: $completed, search: $search, limit: $limit) {{ {FIELDS} }}
}}"""
M_ADD = f"mutation ($title: String!) {{ createTodo(title: $title) {{ {FIELDS} }} }}"
M_UPDATE = f"""mutation ($id: Int!, $title: String, $completed: Boolean) {{
  updateTodo(id: $id, title: $title, completed: $completed) {{ {FIELDS} }}
}}"""
M_DELETE = f"mutation ($id: Int!) {{ deleteTodo(id: $id) {{ {FIELDS} }} }}"
M_CLEAR = "mutation { clearCompleted }"


def _call(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    with handle_errors(), make_client() as client:
        return client.graphql(query, variables)
    raise AssertionError("unreachable")  # handle_errors exits on error


def _line(todo: dict[str, Any]) -> str:
    status = "done" if todo["completed"] else "pending"
    # A title is one line by the server's rules; tabs are still flattened so columns stay put.
    title = todo["title"].replace("\t", " ")
    return f"{todo['id']}\t{status}\t{title}\t{todo['createdAt']}"


def _print_todos(todos: list[dict[str, Any]]) -> None:
    if not is_tty():
        for todo in todos:
            sys.stdout.write(_line(todo) + "\n")
        return
    if not todos:
        typer.echo("No todos.")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    table.add_column("ID", justify="right")
    table.add_column("Done")
    table.add_column("Title", overflow="fold")
    table.add_column("Created")
    for todo in todos:
        created = todo["createdAt"][:16].replace("T", " ")
        # Text(), not a markup string: a title like "[b]x" must show as typed.
        table.add_row(
            str(todo["id"]), "✓" if todo["completed"] else "·", Text(todo["title"]), created
        )
    Console().print(table)


def _emit_one(todo: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        print_json(todo)
    elif is_tty():
        typer.echo(f"{verb} #{todo['id']}: {todo['title']}")
    else:
        sys.stdout.write(_line(todo) + "\n")


def _each(
    ids: list[int], query: str, extra: dict[str, Any], field: str, as_json: bool, verb: str
) -> None:
    """Apply one mutation per id; keep going past a bad id, report it, exit non-zero at the end."""
    from chatbot_cli.client import GraphQLError
    from chatbot_cli.errors import ChatbotError

    done: list[dict[str, Any]] = []
    exit_code = 0
    with handle_errors(), make_client() as client:
        for todo_id in ids:
            try:
                todo = client.graphql(query, {"id": todo_id, **extra})[field]
            except GraphQLError as exc:
                sys.stderr.write(f"Error: {' '.join(exc.message.split())}\n")
                exit_code = exc.exit_code
                continue
            except ChatbotError:
                raise
            done.append(todo)
            if not as_json:
                _emit_one(todo, False, verb)
    if as_json:
        print_json(done)
    if exit_code:
        raise typer.Exit(exit_code)


@app.command("add")
def add(
    title: str = typer.Argument(..., help="What to do (1-500 characters, one line)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Add a todo; prints it (the id first)."""
    todo = _call(M_ADD, {"title": title})["createTodo"]
    _emit_one(todo, as_json, "Added")


@app.command("list")
def list_(
    done: bool = typer.Option(False, "--done", help="Only completed todos."),
    pending: bool = typer.Option(False, "--pending", help="Only todos not yet done."),
    all_: bool = typer.Option(False, "--all", help="Every todo (the default)."),
    search: str | None = typer.Option(None, "--search", "-s", help="Title contains this text."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=0, help="Show at most N."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List todos, newest first: a table on a terminal, tab-separated lines
    (id, status, title, createdAt) otherwise."""
    if done + pending + all_ > 1:
        fail("Use only one of --done, --pending and --all.", 2)
    completed = True if done else False if pending else None
    variables = {"completed": completed, "search": search, "limit": limit}
    todos = _call(Q_LIST, variables)["todos"]
    if as_json:
        print_json(todos)
    else:
        _print_todos(todos)


@app.command("done")
def done(
    ids: Annotated[list[int], typer.Argument(help="Todo ids.")],
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Mark todos as done."""
    _each(ids, M_UPDATE, {"completed": True}, "updateTodo", as_json, "Done")


@app.command("undo")
def undo(
    ids: Annotated[list[int], typer.Argument(help="Todo ids.")],
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Mark todos as not done."""
    _each(ids, M_UPDATE, {"completed": False}, "updateTodo", as_json, "Reopened")


@app.command("edit")
def edit(
    todo_id: int = typer.Argument(..., metavar="ID", help="Todo id."),
    title: str = typer.Option(..., "--title", "-t", help="The new title."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Change a todo's title."""
    todo = _call(M_UPDATE, {"id": todo_id, "title": title})["updateTodo"]
    _emit_one(todo, as_json, "Updated")


@app.command("rm")
def rm(
    ids: Annotated[list[int], typer.Argument(help="Todo ids.")],
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Delete todos; prints what was deleted."""
    _each(ids, M_DELETE, {}, "deleteTodo", as_json, "Deleted")


@app.command("clear")
def clear(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Delete every completed todo."""
    count = _call(M_CLEAR)["clearCompleted"]
    if as_json:
        print_json({"deleted": count})
    else:
        typer.echo(f"Deleted {count} completed todo{'' if count == 1 else 's'}.")
