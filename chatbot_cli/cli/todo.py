"""`chatbot todo`: todos on the server, over GraphQL.

Used in shell loops, so it must start fast: only typer at import time; the HTTP client inside the
commands, rich only when drawing on a terminal, dateparser only when a date is given.
"""

# Annotations stay objects, not strings (no `from __future__ import annotations`): typer reads
# every command's on each start (tests/cli/test_startup.py).

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from chatbot_cli.cli.common import (
    HELP_MARKUP,
    HELP_OPTIONS,
    fail,
    handle_errors,
    make_client,
    print_json,
)
from chatbot_cli.cli.todo_ids import each as _each
from chatbot_cli.cli.todo_queries import (
    FIELDS,
    M_ADD,
    M_CLEAR,
    M_DELETE,
    M_IMPORT,
    M_UNDO,
    M_UPDATE,
    Q_ONE,
    Q_PAGE,
)
from chatbot_cli.cli.todo_view import emit_one, print_card, print_todos

app = typer.Typer(
    rich_markup_mode=HELP_MARKUP,
    help="Add, list, complete and remove todos (talks to `chatbot serve`).",
    no_args_is_help=True,
    # Also run on its own (`cli/entry.py`), where the root's settings are not inherited and
    # completion is the root's business.
    context_settings=HELP_OPTIONS,
    add_completion=False,
)

JSON_HELP = "Print JSON instead of text."
SORTS = ("urgency", "due", "priority", "created")
FIELD_NAMES = ("due", "priority", "tags", "project", "notes")
# A list shows one page; `--all-pages` reads every page (PAGE todos a request).
LIST_DEFAULT = 100
PAGE = 1000


def _call(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    with handle_errors(), make_client() as client:
        return client.graphql(query, variables)
    raise AssertionError("unreachable")  # handle_errors exits on error


def _bad_input(fn: Any, *args: Any) -> Any:
    """Run a parser of user input; what it cannot understand is one line and exit 2."""
    from chatbot_cli.errors import InvalidRequest

    try:
        return fn(*args)
    except InvalidRequest as exc:
        fail(exc.message, 2)


def _due(text: str) -> str:
    from chatbot_cli.cli.todo_words import parse_due

    return str(_bad_input(parse_due, text).isoformat())


def _priority(text: str) -> str:
    from chatbot_cli.cli.todo_words import parse_priority

    return str(_bad_input(parse_priority, text)).upper()


@app.command("add")
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
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Add a todo; prints it (the id first)."""
    from chatbot_cli.cli.todo_words import split_words

    found = split_words(words)
    due = due or found.due
    priority = priority or found.priority
    variables: dict[str, Any] = {
        "title": found.title,
        "due": _due(due) if due else None,
        "priority": _priority(priority) if priority else None,
        "tags": [*found.tags, *(tags or [])] or None,
        "project": project or found.project,
        "notes": note,
    }
    todo = _call(M_ADD, variables)["createTodo"]
    emit_one(todo, as_json, "Added")


def _list_pages(variables: dict[str, Any], limit: int | None) -> tuple[list[dict[str, Any]], bool]:
    """Todos up to `limit` (None: every page), and whether more match. No totalCount: counting
    reads every match, and a list shows one page."""
    todos: list[dict[str, Any]] = []
    after = None
    with handle_errors(), make_client() as client:
        while True:
            want = PAGE if limit is None else min(PAGE, limit - len(todos))
            page = client.graphql(Q_PAGE, {**variables, "first": want, "after": after})
            page = page["todosConnection"]
            todos += page["nodes"]
            after = page["pageInfo"]["endCursor"]
            done = limit is not None and len(todos) >= limit
            if done or not page["pageInfo"]["hasNextPage"] or want == 0:
                return todos, page["pageInfo"]["hasNextPage"]
    raise AssertionError("unreachable")


@app.command("list")
def list_(
    done: bool = typer.Option(False, "--done", help="Only completed todos."),
    pending: bool = typer.Option(False, "--pending", help="Only todos not yet done."),
    all_: bool = typer.Option(False, "--all", help="Every todo (the default)."),
    search: str | None = typer.Option(None, "--search", "-s", help="Title contains this text."),
    tag: str | None = typer.Option(None, "--tag", "-T", help="Only todos with this tag."),
    project: str | None = typer.Option(None, "--project", "-P", help="Only this project."),
    priority: str | None = typer.Option(None, "--priority", "-p", help="Only this priority."),
    due: str | None = typer.Option(None, "--due", help="today, week or overdue."),
    sort: str = typer.Option("urgency", "--sort", help=f"One of {', '.join(SORTS)}."),
    limit: int | None = typer.Option(
        None, "--limit", "-n", min=0, help=f"Show at most N (default {LIST_DEFAULT})."
    ),
    all_pages: bool = typer.Option(False, "--all-pages", help="Every matching todo."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List todos, most urgent first: a table on a terminal, tab-separated lines otherwise
    (id, status, title, createdAt, due, priority, tags, project)."""
    from chatbot_cli.cli.todo_words import due_window

    if done + pending + all_ > 1:
        fail("Use only one of --done, --pending and --all.", 2)
    if sort not in SORTS:
        fail(f"Unknown --sort {sort!r}: use one of {', '.join(SORTS)}.", 2)
    if all_pages and limit is not None:
        fail("Use only one of --limit and --all-pages.", 2)
    variables: dict[str, Any] = {
        "completed": True if done else False if pending else None,
        "search": search,
        "tag": tag,
        "project": project,
        "priority": _priority(priority) if priority else None,
        "sort": sort.upper(),
        **(_bad_input(due_window, due) if due else {}),
    }
    wanted = None if all_pages else LIST_DEFAULT if limit is None else limit
    todos, more = _list_pages(variables, wanted)
    if as_json:
        print_json(todos)
    else:
        print_todos(todos)
    if limit is None and more:  # the default page cut the list short
        sys.stderr.write(
            f"Showing the first {len(todos)} todos; use --limit N or --all-pages for more.\n"
        )


@app.command("show")
def show(
    todo_id: int = typer.Argument(..., metavar="ID", help="Todo id."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show every field of a todo; its notes as Markdown on a terminal."""
    todo = _call(Q_ONE, {"id": todo_id})["todo"]
    if as_json:
        print_json(todo)
    else:
        print_card(todo)


@app.command("done")
def done(
    ids: Annotated[list[int], typer.Argument(help="Todo ids.")],
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Mark todos as done."""
    _each(ids, M_UPDATE, {"completed": True}, "updateTodo", as_json, "Done")


@app.command("undo")
def undo(
    ids: Annotated[
        list[int] | None,
        typer.Argument(help="Without ids: revert the last change. With ids: same as reopen."),
    ] = None,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
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
    ids: Annotated[list[int], typer.Argument(help="Todo ids.")],
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
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
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
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
    todos, _ = _list_pages({"sort": "CREATED"}, None)
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
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
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
