"""CLI start-up stays lazy: help and todo commands never import the server stack."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import typer

HEAVY = (
    "fastapi",
    "sqlalchemy",
    "xllamacpp",
    "uvicorn",
    "chatbot_cli.engine",
    "chatbot_cli.server",
    "huggingface_hub",
)

PROBE = """
import json, sys, runpy
sys.argv = ["chatbot", *json.loads(sys.argv[1])]
try:
    runpy.run_module("chatbot_cli", run_name="__main__")
except SystemExit:
    pass
print("\\nMODULES=" + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported_modules(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    line = [x for x in out.stderr.splitlines() if x.startswith("MODULES=")][-1]
    return set(json.loads(line.removeprefix("MODULES=")))


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["chat", "--help"],
        ["todo", "--help"],
        ["todo", "list", "--help"],
        ["models", "pull", "--help"],
    ],
)
def test_help_is_light(args: list[str]) -> None:
    mods = imported_modules(args)
    assert not {m for m in mods if m.split(".")[0] in HEAVY or m.startswith(HEAVY)}


def test_root_help_from_the_cache_is_lighter_still() -> None:
    """Piped `chatbot --help`, once cached (cli/help_cache.py), imports neither typer nor any
    command module."""
    imported_modules(["--help"])
    mods = imported_modules(["--help"])
    assert "chatbot_cli.cli.help_cache" in mods
    assert not {m for m in mods if m.split(".")[0] in ("typer", "click", "rich", "platformdirs")}
    assert not {m for m in mods if m.startswith("chatbot_cli.cli.") and "help_cache" not in m
                and m != "chatbot_cli.cli.entry"}  # fmt: skip


def test_todo_list_is_light() -> None:
    # Nothing listens on port 9: the command fails fast, but must not have imported the stack.
    import os

    env = {**os.environ, "CHATBOT_URL": "http://127.0.0.1:9", "CHATBOT_API_KEY": "k"}
    mods = imported_modules(["todo", "list"], env)
    assert "chatbot_cli._plainhttp" in mods
    # A plain-http request is sent by the standard library: httpx is a third of the instructions.
    assert not {m for m in mods if m.split(".")[0] in ("httpx", "httpcore", "h11")}
    assert not {m for m in mods if m.split(".")[0] in HEAVY or m.startswith(HEAVY)}
    # dateparser (with its regex and locale data) only when a date is given.
    assert not {m for m in mods if m.split(".")[0] in ("dateparser", "rich")}
    # Nor TLS, the email header parser (http.client's), the idna codec (a str host given to
    # getaddrinfo), hashing (the client only builds a header) or tomllib (no config file).
    unused = ("ssl", "http", "email", "encodings.idna", "hashlib", "hmac", "secrets", "tomllib")
    assert not mods & set(unused)


@pytest.mark.parametrize(
    "args",
    [["todo", "list", "--json"], ["todo", "add", "x", "-T", "t", "--json"], ["todo", "done", "1"]],
)
def test_todo_fast_path_does_without_typer(args: list[str]) -> None:
    """The usual shapes of add, list, done and rm do not import typer or click at all
    (cli/todo_fast.py): importing them is most of such a command's cost."""
    import os

    env = {**os.environ, "CHATBOT_URL": "http://127.0.0.1:9", "CHATBOT_API_KEY": "k"}
    mods = imported_modules(args, env)
    assert "chatbot_cli.cli.todo_cmds" in mods
    assert not {m for m in mods if m.split(".")[0] in ("typer", "click", "rich")}
    if args[1:] == ["list", "--json"]:  # JSON needs neither the text views nor date words
        assert not {"chatbot_cli.cli.todo_view", "chatbot_cli.cli.todo_words"} & mods
    # Anything else about them is typer's.
    assert "typer" in imported_modules(["todo", "list", "--help"], env)


def test_todo_goes_straight_to_its_group() -> None:
    """`chatbot todo ...` skips building the rest of the command tree (cli/entry.py) and still
    reads like the same command: same usage line, same -h."""
    mods = imported_modules(["todo", "--help"])
    assert "chatbot_cli.cli.todo" in mods
    assert not {"chatbot_cli.cli.chat", "chatbot_cli.cli.serve", "chatbot_cli.cli.app"} & mods
    out = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "todo", "-h"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert out.stdout.startswith("Usage: chatbot todo [OPTIONS] COMMAND [ARGS]...")
    assert "--install-completion" not in out.stdout


def _commands(app: typer.Typer) -> list[Callable[..., Any]]:
    found: list[Callable[..., Any]] = [c.callback for c in app.registered_commands if c.callback]
    if app.registered_callback and app.registered_callback.callback:
        found.append(app.registered_callback.callback)
    for group in app.registered_groups:
        assert group.typer_instance is not None
        found += _commands(group.typer_instance)
    return found


def test_command_annotations_are_not_strings() -> None:
    """typer reads every command's annotations on every start; a string annotation (what
    `from __future__ import annotations` makes of them all) costs it a compile and an eval
    each, about an eighth of a `chatbot todo list` (docs/design.md, "CLI start-up")."""
    from chatbot_cli.cli.app import app

    commands = _commands(app)
    assert len(commands) > 20
    for fn in commands:
        strings = {k: v for k, v in inspect.get_annotations(fn).items() if isinstance(v, str)}
        assert not strings, f"{fn.__module__}.{fn.__qualname__}: {strings}"


def test_no_annotation_names_a_type_checking_only_import() -> None:
    """Without `from __future__ import annotations` an annotation is evaluated when its `def`
    runs: one naming an import made only under TYPE_CHECKING (a nested `async def go(database:
    Database)`) raises NameError when the command runs. Such annotations must be quoted."""
    import ast
    from pathlib import Path

    import chatbot_cli.cli as cli

    for path in sorted(Path(cli.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body):
            continue
        hidden: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
                for sub in ast.walk(node):
                    if isinstance(sub, ast.ImportFrom | ast.Import):
                        hidden |= {a.asname or a.name.split(".")[0] for a in sub.names}
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            for ann in [a.annotation for a in args] + [node.returns]:
                if ann is None or isinstance(ann, ast.Constant):
                    continue
                used = {n.id for n in ast.walk(ann) if isinstance(n, ast.Name)} & hidden
                assert not used, f"{path.name}:{node.lineno} {node.name}: quote {used}"
