"""The typer-free fast path of `chatbot todo add|list|done|rm` parses exactly as typer does, or
leaves the command line to typer; it runs the same functions, with the same output."""

from __future__ import annotations

import importlib
import inspect
import json
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import typer
import typer.main

from chatbot_cli.cli import todo, todo_cmds
from chatbot_cli.cli.todo_fast import SPECS, Spec, parse
from tests.live import LiveServer

GROUP = typer.main.get_command(todo.app)
# The click typer uses: its own copy in recent versions, the click package before.
REAL = {spec.run: getattr(todo_cmds, spec.run) for spec in SPECS.values()}
CLICK = importlib.import_module(type(GROUP).__mro__[1].__module__.rsplit(".", 1)[0])


def _command(name: str) -> Any:
    return GROUP.commands[name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_spec_is_the_commands_parameters(name: str) -> None:
    spec, command = SPECS[name], _command(name)
    fn = getattr(todo_cmds, spec.run)
    assert [p.name for p in command.params] == list(inspect.signature(fn).parameters)
    options: dict[str, str] = {}
    for p in command.params:
        assert (p.name in spec.ints) == isinstance(p.type, CLICK.types.IntParamType), p.name
        if p.param_type_name == "argument":
            assert (p.name, p.nargs, p.required) == (spec.words, -1, True)
            continue
        assert p.param_type_name == "option" and not p.secondary_opts and not p.envvar
        table = spec.flags if p.is_flag else spec.values
        options |= {opt: p.name for opt in p.opts}
        assert all(table.get(opt) == p.name for opt in p.opts), p.opts
        assert p.multiple == (p.name in spec.multiple)
        if p.name in spec.ints and not p.multiple:
            assert getattr(p.type, "min", None) == 0  # the fast path takes digits only
    assert options == spec.flags | spec.values


def _typer_kwargs(name: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """What the typer command passes to its todo_cmds function; None if click refused."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(todo_cmds, SPECS[name].run, lambda **kw: calls.append(kw))
    try:
        GROUP.main([name, *args], prog_name="chatbot todo", standalone_mode=False)
    except CLICK.exceptions.ClickException:
        return None
    return calls[0] if calls else None  # help: nothing ran


def _fast_kwargs(spec: Spec, given: dict[str, Any]) -> dict[str, Any]:
    bound = inspect.signature(REAL[spec.run]).bind(**given)
    bound.apply_defaults()
    return dict(bound.arguments)


def _lines(spec: Spec, rng: random.Random) -> list[list[str]]:
    values = ["x", "a b", "", "5", "05", "-1", "+3", " 7", "٣", "1_0", "-", "--", "-h", "urgency"]
    words = ["buy", "milk", "+tag", "pri:H", "project:home", "3", "--help", "-h", "--", "-", "-n5"]
    if spec.words in spec.ints:
        words = ["3", "12", "007", "٣", "-2", "x", "--help", "--"]
    options = [*spec.flags, *spec.values, "--nope", "--json=1", "-dj", "-pH", "-p=H"]
    lines = []
    for _ in range(1000):
        line: list[str] = []
        for _ in range(rng.randint(0, 5)):
            kind = rng.random()
            if kind < 0.5:
                line.append(rng.choice(options))
            elif kind < 0.6:
                line.append(f"{rng.choice(list(spec.values) or ['--x'])}={rng.choice(values)}")
            elif kind < 0.8:
                line.append(rng.choice(values))
            else:
                line.append(rng.choice(words))
        lines.append(line)
    return lines


@pytest.mark.parametrize("name", sorted(SPECS))
def test_fast_parser_agrees_with_typer(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SPECS[name]
    taken = 0
    for args in _lines(spec, random.Random(name)):
        given = parse(spec, args)
        if given is None:
            continue  # typer's to decide
        taken += 1
        expected = _typer_kwargs(name, args, monkeypatch)
        assert expected is not None, f"typer refuses {args}, the fast path took it"
        assert _fast_kwargs(spec, given) == expected, args
    capsys.readouterr()
    assert taken >= 20  # the generated lines do exercise the fast path


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("list", ["--help"]),
        ("list", ["-h"]),
        ("list", ["-n5"]),
        ("list", ["--limit", "-1"]),
        ("list", ["--limit", "x"]),
        ("list", ["stray"]),
        ("list", ["--search"]),
        ("list", ["--search", "--help"]),
        ("add", []),
        ("add", ["--json"]),
        ("add", ["--", "-x"]),
        ("add", ["x", "--json=1"]),
        ("done", ["-1"]),
        ("done", ["١"]),
    ],
)
def test_left_to_typer(name: str, args: list[str]) -> None:
    assert parse(SPECS[name], args) is None


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "todo", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_same_output_as_typer(start_server: Callable[..., LiveServer]) -> None:
    """The fast path (a subprocess) and typer (in-process, the same command line) print the
    same, errors included."""
    from typer.testing import CliRunner

    env = start_server(model=None, extra_args=["--engine", "none"]).env

    def both(*args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
        fast = _run(env, *args)
        slow = CliRunner().invoke(todo.app, list(args), env=env, prog_name="chatbot todo")
        return fast, slow

    added = json.loads(_run(env, "add", "buy", "milk", "+shop", "pri:H", "--json").stdout)
    assert (added["title"], added["tags"], added["priority"]) == ("buy milk", ["shop"], "HIGH")
    for args in (
        ["list", "--json"],
        ["list", "-n", "1"],
        ["list", "--tag", "shop", "--sort", "created", "--json"],
        ["list", "--done", "--pending"],
        ["list", "--sort", "nope"],
        ["done", str(added["id"] + 1000)],
    ):
        fast, slow = both(*args)
        assert (fast.returncode, fast.stdout, fast.stderr) == (
            slow.exit_code,
            slow.stdout,
            slow.stderr,
        ), args
    fast = _run(env, "done", str(added["id"]), "--json")
    assert fast.returncode == 0 and json.loads(fast.stdout)[0]["completed"] is True
    fast = _run(env, "rm", str(added["id"]))
    assert fast.returncode == 0 and fast.stdout.startswith(f"{added['id']}\tdone\tbuy milk")
