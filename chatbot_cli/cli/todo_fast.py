"""`chatbot todo add|list|done|rm` without typer: importing typer (and the click it carries) is
most of what such a command costs, and scripts run them in loops.

A command line in the shapes scripts write (known long or short options, each alone; a value
as the next word or after `--name=`; plain words) is parsed here and handed to the functions
the typer commands call (todo_cmds.py). Anything else returns False and goes to typer: help, a
short-option cluster or attached value (`-n5`), `--`, an unknown option, a value that starts
with `-`, a number click would have to judge, a missing argument. So this parser never decides
anything typer would decide differently; tests/cli/test_todo_fast.py checks the tables against
the typer commands' own parameters and both parsers against each other on generated lines.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Spec:
    run: str  # the function in todo_cmds
    flags: dict[str, str] = field(default_factory=dict)  # option -> parameter set to True
    values: dict[str, str] = field(default_factory=dict)  # option taking one value -> parameter
    multiple: frozenset[str] = frozenset()  # parameters a repeated option appends to
    ints: frozenset[str] = frozenset()  # parameters whose values are whole numbers >= 0
    words: str | None = None  # the parameter every other word goes to (one at least)


_JSON = {"--json": "as_json"}
SPECS: dict[str, Spec] = {
    "add": Spec(
        "add",
        _JSON,
        {"--due": "due", "-d": "due", "--priority": "priority", "-p": "priority"}
        | {"--tag": "tags", "-T": "tags", "--project": "project", "-P": "project"}
        | {"--note": "note"},
        multiple=frozenset({"tags"}),
        words="words",
    ),
    "list": Spec(
        "list_",
        {"--done": "done", "--pending": "pending", "--all": "all_", "--all-pages": "all_pages"}
        | _JSON,
        {"--search": "search", "-s": "search", "--tag": "tag", "-T": "tag"}
        | {"--project": "project", "-P": "project", "--priority": "priority", "-p": "priority"}
        | {"--due": "due", "--sort": "sort", "--limit": "limit", "-n": "limit"},
        ints=frozenset({"limit"}),
    ),
    "done": Spec("done", _JSON, words="ids", ints=frozenset({"ids"})),
    "rm": Spec("rm", _JSON, words="ids", ints=frozenset({"ids"})),
}


def _number(text: str) -> int | None:
    # ASCII digits only: click's int() also takes signs, spaces, `_` and other scripts' digits.
    return int(text) if text.isascii() and text.isdigit() else None


def parse(spec: Spec, args: list[str]) -> dict[str, Any] | None:
    """The parameters typer would pass (those given; the rest take the function's defaults),
    or None where this parser leaves the command line to typer."""
    given: dict[str, Any] = {}
    words: list[Any] = []
    rest = iter(args)
    for arg in rest:
        if not arg.startswith("-"):
            words.append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in spec.flags and not eq:
            given[spec.flags[name]] = True
            continue
        param = spec.values.get(name)
        if param is None:
            return None
        if not eq:
            value = next(rest, "-")  # none left: typer reports the missing value
            if value.startswith("-"):
                return None
        converted = _number(value) if param in spec.ints else value
        if converted is None:
            return None
        if param in spec.multiple:
            given.setdefault(param, []).append(converted)
        else:
            given[param] = converted
    if spec.words is None:
        return None if words else given
    if not words:
        return None
    if spec.words in spec.ints:
        words = [_number(w) for w in words]
        if None in words:
            return None
    given[spec.words] = words
    return given


def run(args: list[str]) -> bool:
    """Run `chatbot todo ARGS` if it is in the shapes above; False to leave it to typer."""
    spec = SPECS.get(args[0]) if args else None
    given = parse(spec, args[1:]) if spec else None
    if spec is None or given is None:
        return False
    from chatbot_cli.cli import todo_cmds

    command: Callable[..., None] = getattr(todo_cmds, spec.run)
    _as_click_would(lambda: command(**given))
    return True


def _as_click_would(fn: Callable[[], None]) -> None:
    """What typer's main does around a command: Ctrl-C exits 130, end of input prints
    "Aborted!", and a closed stdout (`| head`) ends the command quietly with 1."""
    try:
        fn()
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except EOFError:
        sys.stderr.write("\nAborted!\n")
        raise SystemExit(1) from None
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # Later flushes (at exit) must not fail again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, stream.fileno())
        raise SystemExit(1) from None
