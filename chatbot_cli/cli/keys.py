"""`chatbot keys`: API keys for more people or programs, each owning its own todos.

Works on the local database directly (no server needed). A key is printed once and only its
SHA-256 hash is stored. The key in the config file stays valid as owner "default".
"""

# Annotations stay objects, not strings (no `from __future__ import annotations`): typer reads
# every command's on each start (tests/cli/test_startup.py).

import sys
from typing import TYPE_CHECKING

import typer

from chatbot_cli.cli.common import HELP_MARKUP, is_tty, print_json

if TYPE_CHECKING:
    from chatbot_cli.db.keys import KeyRecord
    from chatbot_cli.db.session import Database
    from chatbot_cli.db.usage import UsageRow

app = typer.Typer(
    rich_markup_mode=HELP_MARKUP,
    help="Create, list, revoke and limit API keys (stored as hashes in the local database), "
    "and see what each one used.",
    no_args_is_help=True,
)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Who the key is for; also the owner of its todos."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a key and print it. It is shown only this once."""
    from chatbot_cli.auth import generate_key, hash_key
    from chatbot_cli.cli.db import run_on_database
    from chatbot_cli.db.keys import create_key

    key = generate_key()

    async def go(database: "Database") -> "KeyRecord":
        return await create_key(database, name, hash_key(key))

    record = run_on_database(go, upgrade=True)
    if as_json:
        print_json({**record.as_dict(), "key": key})
        return
    sys.stdout.write(key + "\n")
    if is_tty():
        sys.stderr.write(
            f"Key '{name}' created. Copy it now: it cannot be shown again. "
            "Send it as 'Authorization: Bearer <key>' or set CHATBOT_API_KEY.\n"
        )


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List keys: name, created, last used, revoked (never the key itself)."""
    from chatbot_cli.cli.db import run_on_database
    from chatbot_cli.db.keys import list_keys

    records = run_on_database(list_keys, upgrade=True)
    rows = [r.as_dict() for r in records]
    if as_json:
        print_json(rows)
        return
    columns = ("name", "created_at", "last_used_at", "revoked_at")
    if not is_tty():
        for row in rows:
            sys.stdout.write("\t".join(row[c] or "-" for c in columns) + "\n")
        return
    if not rows:
        typer.echo("No keys. Create one with `chatbot keys create NAME`.")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    for title in ("Name", "Created", "Last used", "Revoked"):
        table.add_column(title)
    for row in rows:
        table.add_row(*(Text((row[c] or "-")[:19].replace("T", " ")) for c in columns))
    Console().print(table)


@app.command("revoke")
def revoke(name: str = typer.Argument(..., help="Name of the key to revoke.")) -> None:
    """Revoke a key: the next request with it is refused (401)."""
    from chatbot_cli.cli.db import run_on_database
    from chatbot_cli.db.keys import revoke_key

    async def go(database: "Database") -> bool:
        return await revoke_key(database, name)

    if run_on_database(go, upgrade=True):
        typer.echo(f"Revoked key '{name}'.")
    else:
        typer.echo(f"Key '{name}' was already revoked.")


def _positive(value: str | None, option: str) -> int | None:
    from chatbot_cli.cli.common import fail

    if value is None:
        return None
    text = value.strip()
    # ASCII digits only: str.isdigit() is also true of '²' or '①', which int() refuses.
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        fail(f"{option} must be a whole number above zero, not {value!r}.", 2)
    if int(text) > 2**31 - 1:
        fail(f"{option} is at most {2**31 - 1}.", 2)
    return int(text)


@app.command("limit")
def limit(
    name: str = typer.Argument(..., help="Name of the key to limit."),
    rpm: str | None = typer.Option(None, "--rpm", help="Requests per minute."),
    tpm: str | None = typer.Option(None, "--tpm", help="Tokens (prompt + completion) per minute."),
    tokens_per_day: str | None = typer.Option(None, "--tokens-per-day", help="Tokens per UTC day."),
    concurrent: str | None = typer.Option(
        None, "--concurrent", help="Generations at once (its share of each server's slots)."
    ),
    clear: bool = typer.Option(False, "--clear", help="Remove every limit of the key."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Set a key's limits (the others stay), or show them when none is given. Over a limit a
    request gets 429 with Retry-After. Servers pick a change up within a few seconds."""
    from chatbot_cli.cli.common import fail
    from chatbot_cli.cli.db import run_on_database
    from chatbot_cli.db.limits import LIMIT_COLUMNS, KeyLimits, set_limits

    options = {
        "rpm": _positive(rpm, "--rpm"),
        "tpm": _positive(tpm, "--tpm"),
        "tokens_per_day": _positive(tokens_per_day, "--tokens-per-day"),
        "concurrent": _positive(concurrent, "--concurrent"),
    }
    values: dict[str, int | None] = {k: v for k, v in options.items() if v is not None}
    if clear and values:
        fail("--clear cannot be combined with new limits.", 2)
    if clear:
        values = dict.fromkeys(LIMIT_COLUMNS)

    async def go(database: "Database") -> "KeyLimits":
        return await set_limits(database, name, values)

    limits = run_on_database(go, upgrade=True)
    if as_json:
        print_json({"name": name, **limits.as_dict()})
        return
    words = {
        "rpm": "requests/min",
        "tpm": "tokens/min",
        "tokens_per_day": "tokens/day",
        "concurrent": "concurrent",
    }
    shown = [f"{v} {words[k]}" for k, v in limits.as_dict().items() if v is not None]
    typer.echo(f"Key '{name}': " + (", ".join(shown) if shown else "no limits") + ".")


@app.command("usage")
def usage(
    name: str | None = typer.Argument(None, help="Only this key (default: every key)."),
    since: str = typer.Option("7d", "--since", help="How far back: 24h, 7d, 2w or a date."),
    by: str = typer.Option("key", "--by", help="Also group by: day, hour or model."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Requests and tokens each key spent on chat completions (from the local database)."""
    from chatbot_cli.cli.common import fail
    from chatbot_cli.cli.db import run_on_database
    from chatbot_cli.db.keys import key_exists
    from chatbot_cli.db.usage import GROUPS, parse_since, usage_report

    if by not in GROUPS:
        fail(f"--by must be one of {', '.join(GROUPS)}, not {by!r}.", 2)
    from chatbot_cli.cli.common import handle_errors

    with handle_errors():
        start = parse_since(since)

    async def go(database: "Database") -> "list[UsageRow]":
        if name is not None:
            await key_exists(database, name)
        return await usage_report(database, owner=name, since=start, by=by)

    rows = [r.as_dict() for r in run_on_database(go, upgrade=True)]
    if as_json:
        print_json(rows)
        return
    label = {"key": None, "day": "period", "hour": "period", "model": "model"}[by]
    columns = ["key", *([label] if label else []), "requests", "prompt_tokens"]
    columns += ["completion_tokens", "total_tokens"]

    def cell(row: dict[str, object], column: str) -> str:
        value = row[column]
        if column == "period" and isinstance(value, str):
            return value[:10] if by == "day" else value[:16].replace("T", " ")
        return "-" if value is None else str(value)

    if not is_tty():
        for row in rows:
            sys.stdout.write("\t".join(cell(row, c) for c in columns) + "\n")
        return
    if not rows:
        typer.echo(f"No usage since {start:%Y-%m-%d %H:%M} UTC.")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    for column in columns:
        title = column.replace("_tokens", "").replace("_", " ").capitalize()
        numeric = "tokens" in column or column == "requests"
        table.add_column(title, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(Text(cell(row, c)) for c in columns))
    Console().print(table)
