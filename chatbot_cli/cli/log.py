"""`chatbot log`: the conversations `chatbot chat` (or any client sending `store: true`) kept on
the server, over GraphQL: list, show, search (full text, ranked, with highlighted snippets),
rm. Only typer loads at import; rich only to draw on a terminal.
"""

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

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
    help="Your conversations kept on the server: list, show, search, rm.",
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
)

JSON_HELP = "Print JSON instead of text."
SINCE_HELP = "Only since then: 30m, 12h, 7d, 2w, or a date (2026-11-30)."
MAX_N = 100
_FIELDS = "id name title model createdAt updatedAt messageCount usage { totalTokens }"
Q_LIST = f"""query($first: Int, $search: String, $since: DateTime, $model: String) {{
  conversations(first: $first, search: $search, since: $since, model: $model) {{
    nodes {{ {_FIELDS} snippet }}
  }}
}}"""
Q_SHOW = f"""query($id: ID, $name: String) {{
  conversation(id: $id, name: $name) {{
    {_FIELDS} usage {{ promptTokens completionTokens totalTokens }}
    messages {{ role content createdAt }}
  }}
}}"""
M_DELETE = "mutation($id: ID!) { deleteConversation(id: $id) }"
_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | None) -> str | None:
    """`--since` as an ISO time for the server; exit 2 on anything else."""
    if value is None:
        return None
    span = _SPAN.match(value.lower())
    if span:
        delta = timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
        return (datetime.now(UTC) - delta).isoformat()
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"--since takes 30m, 12h, 7d, 2w or a date such as 2026-11-30, not '{value}'.", 2)
    if when.tzinfo is None:
        when = when.astimezone()  # a date or time without a zone is local time
    return when.isoformat()


def _count(n: int) -> int:
    if not 1 <= n <= MAX_N:
        fail(f"-n is 1-{MAX_N}.", 2)
    return n


def _call(query: str, variables: dict[str, Any]) -> dict[str, Any]:
    with handle_errors(), make_client() as client:
        return client.graphql(query, variables)
    raise AssertionError("unreachable")  # handle_errors exits on error


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")


def _label(node: dict[str, Any]) -> str:
    from chatbot_cli.cli.sanitize import one_line

    name = node.get("name")
    title = one_line(node.get("title") or "")
    return f"[{one_line(name)}] {title}" if name else title


def _lines(nodes: list[dict[str, Any]], tty: bool) -> None:
    from chatbot_cli.cli.sanitize import one_line

    if tty:
        from rich.text import Text

        from chatbot_cli.cli.render import make_console

        console = make_console(sys.stdout)
    for node in nodes:
        head = f"{node['id']}  {_when(node['updatedAt'])}  {node['model']}  "
        head += f"{node['messageCount']} msg  {_label(node)}"
        snippet = node.get("snippet")
        if not tty:
            sys.stdout.write(head + "\n")
            if snippet:
                sys.stdout.write("    " + one_line(snippet.replace("**", "")) + "\n")
            continue
        line = Text(node["id"], style="cyan")
        line.append(f"  {_when(node['updatedAt'])}  ", style="dim")
        line.append(f"{node['model']}  {node['messageCount']} msg  ", style="dim")
        line.append(_label(node))
        console.print(line, soft_wrap=True)
        if snippet:
            text = Text("    ")
            for i, part in enumerate(one_line(snippet).split("**")):
                text.append(part, style="bold reverse" if i % 2 else "")
            console.print(text)


@app.command("list")
def list_(
    n: int = typer.Option(20, "-n", help=f"How many, newest first (at most {MAX_N})."),
    since: str | None = typer.Option(None, "--since", help=SINCE_HELP),
    model: str | None = typer.Option(None, "--model", help="Only this model's."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Your conversations, most recently used first."""
    variables = {"first": _count(n), "since": parse_since(since), "model": model}
    nodes = _call(Q_LIST, variables)["conversations"]["nodes"]
    for node in nodes:
        node.pop("snippet", None)
    if as_json:
        print_json(nodes)
    elif not nodes:
        sys.stderr.write("No conversations.\n")
    else:
        _lines(nodes, is_tty())


@app.command()
def search(
    text: str = typer.Argument(..., help='Words (all must match), "a phrase", a or b, -word.'),
    n: int = typer.Option(20, "-n", help=f"How many, best first (at most {MAX_N})."),
    since: str | None = typer.Option(None, "--since", help=SINCE_HELP),
    model: str | None = typer.Option(None, "--model", help="Only this model's."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Full-text search: conversations ranked by their best matching message."""
    variables = {"first": _count(n), "search": text, "since": parse_since(since), "model": model}
    nodes = _call(Q_LIST, variables)["conversations"]["nodes"]
    if as_json:
        print_json(nodes)
    elif not nodes:
        sys.stderr.write("Nothing found.\n")
        raise typer.Exit(1)
    else:
        _lines(nodes, is_tty())


def _target(ident: str) -> dict[str, str]:
    # Ids are the server's ("conv_..."); anything else is a session name.
    return {"id": ident} if ident.startswith("conv_") else {"name": ident}


@app.command()
def show(
    ident: str = typer.Argument(..., metavar="ID", help="A conversation id, or a session name."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One conversation, every message (Markdown on a terminal)."""
    found = _call(Q_SHOW, _target(ident))["conversation"]
    if as_json:
        print_json(found)
        return
    from chatbot_cli.cli.sanitize import for_terminal

    usage = found["usage"]
    head = (
        f"{found['id']}  {_when(found['createdAt'])}  {found['model']}  "
        f"{found['messageCount']} messages  {usage['totalTokens']} tokens  {_label(found)}"
    )
    if not is_tty():
        sys.stdout.write(head + "\n")
        for m in found["messages"]:
            sys.stdout.write(f"\n## {m['role']}\n\n{for_terminal(m['content'])}\n")
        return
    from rich.rule import Rule

    from chatbot_cli.cli.render import make_console, print_markdown

    console = make_console(sys.stdout)
    console.print(head, style="bold", markup=False, highlight=False)
    for m in found["messages"]:
        console.print(Rule(f"{m['role']} · {_when(m['createdAt'])}", align="left", style="dim"))
        print_markdown(console, m["content"])


@app.command()
def rm(
    ident: str = typer.Argument(..., metavar="ID", help="A conversation id, or a session name."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Delete a conversation and all its messages."""
    target = _target(ident)
    if "name" in target:
        target = {"id": _call(Q_SHOW, target)["conversation"]["id"]}
    gone = _call(M_DELETE, target)["deleteConversation"]
    if as_json:
        print_json({"deleted": gone})
    else:
        sys.stdout.write(f"Deleted conversation {gone}.\n")
