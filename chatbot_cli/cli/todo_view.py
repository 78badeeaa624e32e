"""How `chatbot todo` prints todos: tab-separated lines in a pipe, a table or a card on a
terminal. Rich and typer are imported only for the terminal."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from chatbot_cli.cli.common import is_tty
from chatbot_cli.cli.todo_words import relative

_PRIORITY_MARK = {"HIGH": "H", "MEDIUM": "M", "LOW": "L"}


def _flat(text: str | None) -> str:
    # Tabs and newlines are flattened so that the columns stay put.
    return " ".join((text or "").split())


def line(todo: dict[str, Any]) -> str:
    """id, status, title, createdAt, then due, priority, tags, project (empty when unset)."""
    status = "done" if todo["completed"] else "pending"
    priority = todo.get("priority") or "NONE"
    extra = [
        todo.get("due") or "",
        "" if priority == "NONE" else priority.lower(),
        ",".join(todo.get("tags") or ()),
        _flat(todo.get("project")),
    ]
    return "\t".join([str(todo["id"]), status, _flat(todo["title"]), todo["createdAt"], *extra])


def _due_text(todo: dict[str, Any], now: datetime) -> Any:
    from rich.text import Text

    if not todo.get("due"):
        return Text("")
    due = datetime.fromisoformat(todo["due"])
    late = due < now and not todo["completed"]
    return Text(relative(due, now), style="red" if late else "")


def print_todos(todos: list[dict[str, Any]]) -> None:
    if not is_tty():
        for todo in todos:
            sys.stdout.write(line(todo) + "\n")
        return
    import typer  # a terminal only: the fast path's piped output does without it

    if not todos:
        typer.echo("No todos.")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    now = datetime.now(UTC)
    table = Table(box=None, header_style="bold")
    table.add_column("ID", justify="right")
    table.add_column("Done")
    table.add_column("Pri")
    table.add_column("Title", overflow="fold")
    table.add_column("Due")
    table.add_column("Project")
    table.add_column("Tags")
    for todo in todos:
        # Text(), not a markup string: a title like "[b]x" must show as typed.
        table.add_row(
            str(todo["id"]),
            "✓" if todo["completed"] else "·",
            _PRIORITY_MARK.get(todo.get("priority") or "", ""),
            Text(todo["title"]),
            _due_text(todo, now),
            Text(todo.get("project") or ""),
            Text(" ".join("+" + t for t in todo.get("tags") or ())),
        )
    Console().print(table)


def print_card(todo: dict[str, Any]) -> None:
    """`todo show`: every field; the notes as Markdown on a terminal."""
    fields = [
        ("ID", str(todo["id"])),
        ("Title", todo["title"]),
        ("Status", "done" if todo["completed"] else "pending"),
        ("Priority", (todo.get("priority") or "NONE").lower()),
        ("Due", todo.get("due") or ""),
        ("Project", todo.get("project") or ""),
        ("Tags", " ".join(todo.get("tags") or ())),
        ("Urgency", f"{todo.get('urgency', 0):.2f}"),
        ("Created", todo["createdAt"]),
        ("Updated", todo["updatedAt"]),
    ]
    if not is_tty():
        for name, value in fields:
            sys.stdout.write(f"{name.lower()}\t{_flat(value)}\n")
        if todo.get("notes"):
            sys.stdout.write("\n" + todo["notes"].rstrip("\n") + "\n")
        return
    from rich.console import Console
    from rich.markdown import Markdown
    from rich.table import Table
    from rich.text import Text

    now = datetime.now(UTC)
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in fields:
        shown = _due_text(todo, now) if name == "Due" and value else Text(value)
        table.add_row(name, shown)
    console = Console()
    console.print(table)
    if todo.get("notes"):
        console.print()
        console.print(Markdown(todo["notes"]))


def emit_one(todo: dict[str, Any], as_json: bool, verb: str) -> None:
    from chatbot_cli.cli.common import print_json

    if as_json:
        print_json(todo)
    elif is_tty():
        import typer  # a terminal only: the fast path's piped output does without it

        typer.echo(f"{verb} #{todo['id']}: {todo['title']}")
    else:
        sys.stdout.write(line(todo) + "\n")
