"""The `chatbot` executable.

`chatbot todo ...` runs in shell loops, so it goes straight to its command group instead of
building the whole command tree (serve, chat, config, db, keys, models) first, which is work a
todo command never uses (figure in docs/design.md, "CLI start-up"). Global options come before
the group name, so a command line starting with `todo` has none, and the group behaves exactly
as under the root. The usual shapes of `todo add|list|done|rm` do not even import typer
(cli/todo_fast.py); everything else about them is typer's. `chatbot --help` piped is printed
from a cache when nothing it depends on changed (cli/help_cache.py).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    args = sys.argv[1:]
    # Shell completion walks the whole tree from the root.
    completing = "_CHATBOT_COMPLETE" in os.environ
    if args[:1] == ["todo"] and not completing:
        from chatbot_cli.cli.todo_fast import run

        if run(args[1:]):  # the common shapes of add, list, done and rm, without typer
            return
        from chatbot_cli.cli.todo import app as todo

        todo(args=args[1:], prog_name="chatbot todo")
        return
    if args in (["--help"], ["-h"]) and not completing and _plain_utf8(sys.stdout):
        from chatbot_cli.cli.help_cache import root_help

        root_help(args)
        return
    from chatbot_cli.cli.app import app

    app()


def _plain_utf8(stream: object) -> bool:
    """Help that typer prints as plain text (not a terminal: no Rich), on a UTF-8 stream, which
    the help cache writes exactly as click would."""
    encoding = str(getattr(stream, "encoding", "") or "").lower().replace("_", "-")
    return encoding in ("utf-8", "utf8") and not stream.isatty()  # type: ignore[attr-defined]
