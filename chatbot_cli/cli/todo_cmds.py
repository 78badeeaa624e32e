"""What `chatbot todo add|list|done|rm` do, as plain functions free of typer.

The typer commands in todo.py pass their parameters straight here, and the fast path
(todo_fast.py) calls the same functions without importing typer, so the two cannot differ in
anything but parsing. Each function's defaults are its command's (tests/cli/test_todo_fast.py).
"""

from __future__ import annotations

import sys
from typing import Any

from chatbot_cli.cli.common import fail, handle_errors, make_client
from chatbot_cli.cli.todo_queries import M_ADD, M_DELETE, M_UPDATE, Q_PAGE

SORTS = ("urgency", "due", "priority", "created")
# A list shows one page; `--all-pages` reads every page (PAGE todos a request).
LIST_DEFAULT = 100
PAGE = 1000


def call(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    with handle_errors(), make_client() as client:
        return client.graphql(query, variables)
    raise AssertionError("unreachable")  # handle_errors exits on error


def bad_input(fn: Any, *args: Any) -> Any:
    """Run a parser of user input; what it cannot understand is one line and exit 2."""
    from chatbot_cli.errors import InvalidRequest

    try:
        return fn(*args)
    except InvalidRequest as exc:
        fail(exc.message, 2)


def due_value(text: str) -> str:
    from chatbot_cli.cli.todo_words import parse_due

    return str(bad_input(parse_due, text).isoformat())


def priority_value(text: str) -> str:
    from chatbot_cli.cli.todo_words import parse_priority

    return str(bad_input(parse_priority, text)).upper()


def _due_window(text: str) -> dict[str, Any]:
    from chatbot_cli.cli.todo_words import due_window

    return dict(bad_input(due_window, text))


def add(
    words: list[str],
    due: str | None = None,
    priority: str | None = None,
    tags: list[str] | None = None,
    project: str | None = None,
    note: str | None = None,
    as_json: bool = False,
) -> None:
    from chatbot_cli.cli.todo_view import emit_one
    from chatbot_cli.cli.todo_words import split_words

    found = split_words(words)
    due = due or found.due
    priority = priority or found.priority
    variables: dict[str, Any] = {
        "title": found.title,
        "due": due_value(due) if due else None,
        "priority": priority_value(priority) if priority else None,
        "tags": [*found.tags, *(tags or [])] or None,
        "project": project or found.project,
        "notes": note,
    }
    todo = call(M_ADD, variables)["createTodo"]
    emit_one(todo, as_json, "Added")


def list_pages(variables: dict[str, Any], limit: int | None) -> tuple[list[dict[str, Any]], bool]:
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


def list_(
    done: bool = False,
    pending: bool = False,
    all_: bool = False,
    search: str | None = None,
    tag: str | None = None,
    project: str | None = None,
    priority: str | None = None,
    due: str | None = None,
    sort: str = "urgency",
    limit: int | None = None,
    all_pages: bool = False,
    as_json: bool = False,
) -> None:
    from chatbot_cli.cli.common import print_json

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
        "priority": priority_value(priority) if priority else None,
        "sort": sort.upper(),
        **(_due_window(due) if due else {}),
    }
    wanted = None if all_pages else LIST_DEFAULT if limit is None else limit
    todos, more = list_pages(variables, wanted)
    if as_json:
        print_json(todos)
    else:
        from chatbot_cli.cli.todo_view import print_todos

        print_todos(todos)
    if limit is None and more:  # the default page cut the list short
        sys.stderr.write(
            f"Showing the first {len(todos)} todos; use --limit N or --all-pages for more.\n"
        )


def done(ids: list[int], as_json: bool = False) -> None:
    from chatbot_cli.cli.todo_ids import each

    each(ids, M_UPDATE, {"completed": True}, "updateTodo", as_json, "Done")


def rm(ids: list[int], as_json: bool = False) -> None:
    from chatbot_cli.cli.todo_ids import each

    each(ids, M_DELETE, {}, "deleteTodo", as_json, "Deleted")
