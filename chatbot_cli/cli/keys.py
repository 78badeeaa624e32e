"""`chatbot keys`: API keys for more people or programs, each owning its own todos.

Works on the local database directly (no server needed). A key is printed once and only its
SHA-256 hash is stored. The key in the config file stays valid as owner "default".
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from chatbot_cli.cli.common import HELP_MARKUP, is_tty, print_json

if TYPE_CHECKING:
    from chatbot_cli.db.keys import KeyRecord
    from chatbot_cli.db.session import Database

app = typer.Typer(
    rich_markup_mode=HELP_MARKUP,
    help="Create, list and revoke API keys (stored as hashes in the local database).",
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

    async def go(database: Database) -> KeyRecord:
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

    async def go(database: Database) -> bool:
        return await revoke_key(database, name)

    if run_on_database(go, upgrade=True):
        typer.echo(f"Revoked key '{name}'.")
    else:
        typer.echo(f"Key '{name}' was already revoked.")
