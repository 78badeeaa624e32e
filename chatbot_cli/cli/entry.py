"""The `chatbot` executable.

`chatbot todo ...` runs in shell loops, so it goes straight to its command group instead of
building the whole command tree (serve, chat, config, db, keys, models) first, which is work a
todo command never uses (figure in docs/design.md, "CLI start-up"). Global options come before
the group name, so a command line starting with `todo` has none, and the group behaves exactly
as under the root. The usual shapes of `todo add|list|done|rm` do not even import typer
(cli/todo_fast.py); everything else about them is typer's.
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
    from chatbot_cli.cli.app import app

    app()
