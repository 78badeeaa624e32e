"""No import cycles in `chatbot_cli`, counting the imports inside functions.

A function-level import that closes a cycle works only as long as it stays where it is: moving it
to the top of its module (or importing the modules in another order) breaks start-up. So every
import of ours counts, at any level; only `if TYPE_CHECKING:` blocks are left out, as they never
run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import chatbot_cli

PACKAGE = Path(chatbot_cli.__file__).parent
ROOT = PACKAGE.name


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ours that `name` imports when any of its code runs."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from pkg import x` imports pkg, and pkg.x too when x is a module.
            targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
        out.update(t for t in targets if t in known and t != name)
    return out


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every strongly connected component of more than one module (Tarjan), each shown as one of
    its cycles and the component's other members: all of them must be untangled."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    found = []
    for component in components:
        cycle = _one_cycle(graph, set(component))
        others = sorted(set(component) - set(cycle))
        found.append(
            " -> ".join(cycle) + (f" (tangled with {', '.join(others)})" if others else "")
        )
    return found


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, for the message."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"not a cycle: {component}")


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert len(graph) > 40
    # Module level, `from pkg import module`, and inside a function (registry → the backends).
    assert "chatbot_cli.errors" in graph["chatbot_cli.engine.scheduler"]
    assert "chatbot_cli.engine.llamacpp" in graph["chatbot_cli.engine.registry"]
    # The serve command imports the server only inside the command.
    assert any(m.startswith("chatbot_cli.server") for m in graph["chatbot_cli.cli.serve"])


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == ["a -> b -> c -> a"]
    graph = {"a": {"b", "c"}, "b": {"a"}, "c": {"a"}, "d": set()}
    assert cycles(graph) == ["a -> b -> a (tangled with c)"]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg.py"
    pkg.write_text("from . import errors\nfrom .engine import base\n")
    known = {"chatbot_cli.errors", "chatbot_cli.engine", "chatbot_cli.engine.base"}
    got = imports_of("chatbot_cli.client", pkg, known)
    assert got == {"chatbot_cli.errors", "chatbot_cli.engine", "chatbot_cli.engine.base"}


def test_type_checking_imports_do_not_count(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import chatbot_cli.a\n"
        "else:\n    import chatbot_cli.b\ndef f():\n    import chatbot_cli.c\n"
    )
    known = {"chatbot_cli.a", "chatbot_cli.b", "chatbot_cli.c"}
    assert imports_of("chatbot_cli.m", source, known) == {"chatbot_cli.b", "chatbot_cli.c"}


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(found)
