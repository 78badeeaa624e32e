"""`chatbot todo`: todos on the server, over GraphQL.

Used in shell loops, so it must start fast: only typer at import time; the HTTP client inside the
commands, rich only when drawing on a terminal, dateparser only when a date is given. The bodies of
add, list, done and rm live in todo_cmds.py, which the typer-free fast path (todo_fast.py) calls.
"""

# Annotations stay objects, not strings (no `from __future__ import annotations`): typer reads
# every command's on each start (tests/cli/test_startup.py).

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from chatbot_cli.cli import todo_cmds
from chatbot_cli.cli.common import (
    HELP_MARKUP,
    HELP_OPTIONS,
    fail,
    handle_errors,
    make_client,
    print_json,
)
from chatbot_cli.cli.todo_cmds import call as _call
from chatbot_cli.cli.todo_cmds import due_value as _due
from chatbot_cli.cli.todo_cmds import priority_value as _priority
from chatbot_cli.cli.todo_ids import each as _each
from chatbot_cli.cli.todo_queries import FIELDS, M_CLEAR, M_IMPORT, M_UNDO, M_UPDATE, Q_ONE
from chatbot_cli.cli.todo_view import emit_one, print_card

app = typer.Typer(
    rich_markup_mode=HELP_MARKUP,
    help="Add, list, complete and remove todos (talks to `chatbot serve`).",
    no_args_is_help=True,
    # Also run on its own (`cli/entry.py`), where the root's settings are not inherited and
    # completion is the root's business.
    context_settings=HELP_OPTIONS,
    add_completion=False,
)

# Declared once for the commands that share them (typer reads `Annotated` as FastAPI does).
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Ids = Annotated[list[int], typer.Argument(help="Todo ids.")]


def _runs(body: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A command whose body is todo_cmds.py's function `body` (shared with the typer-free fast
    path), called with the command's options: the decorated function declares them for typer
    and its docstring is the help. Looked up at each call, as `todo_cmds.add(...)` would be."""

    def command(declared: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(declared)  # typer reads the options from the wrapped signature
        def run(**options: Any) -> None:
            getattr(todo_cmds, body)(**options)

        return run

    return command


FIELD_NAMES = ("due", "priority", "tags", "project", "notes")


@app.command("add")
@_runs("add")
def add(
    words: Annotated[
        list[str],
        typer.Argument(
            help="What to do (1-500 characters, one line). Taskwarrior's inline words work "
            "too: +tag, project:NAME, due:WHEN, pri:H|M|L."
        ),
    ],
    due: str | None = typer.Option(
        None, "--due", "-d", help="When: tomorrow, 'fri 5pm', 'in 3 days', 2026-12-24..."
    ),
    priority: str | None = typer.Option(
        None, "--priority", "-p", help="high, medium, low or none (H, M, L)."
    ),
    tags: Annotated[
        list[str] | None, typer.Option("--tag", "-T", help="A tag (repeat for more).")
    ] = None,
    project: str | None = typer.Option(None, "--project", "-P", help="Project name."),
    note: str | None = typer.Option(None, "--note", help="Notes (Markdown)."),
    as_json: AsJson = False,
) -> None:
    """Add a todo; prints it (the id first)."""


@app.command("list")
@_runs("list_")
def list_(
    done: bool = typer.Option(False, "--done", help="Only completed todos."),
    pending: bool = typer.Option(False, "--pending", help="Only todos not yet done."),
    all_: bool = typer.Option(False, "--all", help="Every todo (the default)."),
    search: str | None = typer.Option(None, "--search", "-s", help="Title contains this text."),
    tag: str | None = typer.Option(None, "--tag", "-T", help="Only todos with this tag."),
    project: str | None = typer.Option(None, "--project", "-P", help="Only this project."),
    priority: str | None = typer.Option(None, "--priority", "-p", help="Only this priority."),
    due: str | None = typer.Option(None, "--due", help="today, week or overdue."),
    sort: str = typer.Option("urgency", "--sort", help=f"One of {', '.join(todo_cmds.SORTS)}."),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=0, help=f"Show at most N (default {todo_cmds.LIST_DEFAULT})."
    ),
    all_pages: bool = typer.Option(False, "--all-pages", help="Every matching todo."),
    as_json: AsJson = False,
) -> None:
    """List todos, most urgent first: a table on a terminal, tab-separated lines otherwise
    (id, status, title, createdAt, due, priority, tags, project)."""


@app.command("show")
def show(
    todo_id: int = typer.Argument(..., metavar="ID", help="Todo id."),
    as_json: AsJson = False,
) -> None:
    """Show every field of a todo; its notes as Markdown on a terminal."""
    todo = _call(Q_ONE, {"id": todo_id})["todo"]
    if as_json:
        print_json(todo)
    else:
        print_card(todo)


@app.command("done")
@_runs("done")
def done(
    ids: Ids,
    as_json: AsJson = False,
) -> None:
    """Mark todos as done."""


@app.command("undo")
def undo(
    ids: Annotated[
        list[int] | None,
        typer.Argument(help="Without ids: revert the last change. With ids: same as reopen."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Revert the last change (add, edit, done, rm, clear, import); again to go further back."""
    if ids:
        _each(ids, M_UPDATE, {"completed": False}, "updateTodo", as_json, "Reopened")
        return
    result = _call(M_UNDO)["undo"]
    if as_json:
        print_json(result)
        return
    restored, removed = len(result["restored"]), len(result["removed"])
    what = []
    if restored:
        what.append(f"restored {restored} todo{'' if restored == 1 else 's'}")
    if removed:
        what.append(f"removed {removed} todo{'' if removed == 1 else 's'}")
    typer.echo(f"Undid {result['action']}: {' and '.join(what) or 'nothing left to change'}.")


@app.command("reopen")
def reopen(
    ids: Ids,
    as_json: AsJson = False,
) -> None:
    """Mark todos as not done."""
    _each(ids, M_UPDATE, {"completed": False}, "updateTodo", as_json, "Reopened")


@app.command("edit")
def edit(
    todo_id: int = typer.Argument(..., metavar="ID", help="Todo id."),
    title: str | None = typer.Option(None, "--title", "-t", help="The new title."),
    due: str | None = typer.Option(None, "--due", "-d", help="New due date (see `add`)."),
    priority: str | None = typer.Option(None, "--priority", "-p", help="high, medium, low, none."),
    tags: Annotated[
        list[str] | None, typer.Option("--tag", "-T", help="Add a tag (repeatable).")
    ] = None,
    untags: Annotated[
        list[str] | None, typer.Option("--untag", help="Remove a tag (repeatable).")
    ] = None,
    project: str | None = typer.Option(None, "--project", "-P", help="New project."),
    note: str | None = typer.Option(None, "--note", help="New notes (Markdown)."),
    clear: Annotated[
        list[str] | None,
        typer.Option("--clear", help=f"Clear a field: {', '.join(FIELD_NAMES)} (repeatable)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Change any field of a todo; --clear empties one."""
    clear, tags, untags = clear or [], tags or [], untags or []
    for name in clear:
        if name not in FIELD_NAMES:
            fail(f"Unknown field {name!r} for --clear: use {', '.join(FIELD_NAMES)}.", 2)
    given: dict[str, Any] = {"title": title}
    given["due"] = _due(due) if due else None
    given["priority"] = _priority(priority) if priority else None
    given["project"] = project
    given["notes"] = note
    changes = {k: v for k, v in given.items() if v is not None}
    for name in clear:
        changes[name] = "NONE" if name == "priority" else None
    if tags or untags:
        current = [] if "tags" in clear else _call(Q_ONE, {"id": todo_id})["todo"]["tags"]
        drop = {t.lstrip("+").lower() for t in untags}
        changes["tags"] = [t for t in [*current, *tags] if t.lstrip("+").lower() not in drop]
    if not changes:
        fail("Nothing to change: give --title, --due, --priority, --tag, --project, --note or "
             "--clear.", 2)  # fmt: skip
    names = list(changes)
    types = {"title": "String", "due": "DateTime", "priority": "Priority", "tags": "[String!]",
             "project": "String", "notes": "String"}  # fmt: skip
    params = ", ".join(f"${n}: {types[n]}" for n in names)
    args = ", ".join(f"{n}: ${n}" for n in names)
    query = f"mutation ($id: Int!, {params}) {{ updateTodo(id: $id, {args}) {{ {FIELDS} }} }}"
    todo = _call(query, {"id": todo_id, **changes})["updateTodo"]
    emit_one(todo, as_json, "Updated")


@app.command("rm")
@_runs("rm")
def rm(
    ids: Ids,
    as_json: AsJson = False,
) -> None:
    """Delete todos; prints what was deleted."""


@app.command("clear")
def clear(as_json: AsJson = False) -> None:
    """Delete every completed todo."""
    count = _call(M_CLEAR)["clearCompleted"]
    if as_json:
        print_json({"deleted": count})
    else:
        typer.echo(f"Deleted {count} completed todo{'' if count == 1 else 's'}.")


@app.command("export")
def export(
    fmt: str = typer.Option("json", "--format", "-f", help="json, todotxt, csv or taskwarrior."),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here, not stdout.")
    ] = None,
) -> None:
    """Write every todo, oldest first, as JSON (ours: imports back losslessly), todo.txt, CSV
    or Taskwarrior's import JSON."""
    from chatbot_cli.cli.todo_formats import FORMATS, render

    if fmt not in FORMATS:
        fail(f"Unknown --format {fmt!r}: use one of {', '.join(FORMATS)}.", 2)
    todos, _ = todo_cmds.list_pages({"sort": "CREATED"}, None)
    text = render(todos[::-1], fmt)
    if output is None:
        sys.stdout.write(text)
        return
    with handle_errors():
        output.write_text(text, encoding="utf-8")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The file, or - for stdin.")],
    fmt: str | None = typer.Option(
        None, "--format", "-f", help="json, todotxt, csv or taskwarrior (default: detected)."
    ),
    as_json: AsJson = False,
) -> None:
    """Import todos: all or nothing; a bad line is reported by its number and nothing is
    imported. Todos already there are skipped, so importing twice creates nothing twice."""
    from chatbot_cli.cli.todo_formats import FORMATS, ImportFileError, parse
    from chatbot_cli.errors import GraphQLError

    if fmt is not None and fmt not in FORMATS:
        fail(f"Unknown --format {fmt!r}: use one of {', '.join(FORMATS)}.", 2)
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        items = parse(text, fmt)
    except OSError as exc:  # missing, a directory, not readable: the command line is wrong
        fail(f"{file}: {exc.strerror or exc}.", 2)
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text. Nothing was imported.", 2)
    except ImportFileError as exc:
        fail(f"{file}: {exc.message}", 2)
    with handle_errors(), make_client() as client:
        try:
            result = client.graphql(M_IMPORT, {"items": [item for _, item in items]})
        except GraphQLError as exc:
            if exc.item is None or not 0 <= exc.item < len(items):
                raise
            # The server counts items; the user knows lines.
            message = exc.message.split(": ", 1)[-1]
            fail(f"{file}: Line {items[exc.item][0]}: {message} Nothing was imported.", 2)
    created, skipped = result["importTodos"]["created"], result["importTodos"]["skipped"]
    if as_json:
        print_json({"created": created, "skipped": skipped})
    else:
        typer.echo(f"Imported {len(created)} todos; skipped {skipped} already there.")
