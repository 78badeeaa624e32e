"""No measured figures in code comments: they change with every machine and version, and rot.

Scanned: every comment (tokenize) and docstring (ast: module, class, function) in
chatbot_cli/**/*.py, and the comments of pyproject.toml. Other strings (messages, help, field
descriptions) are output, not comments, and are not scanned.

A figure is a number with a unit of measurement:
- time: ns, µs, us, ms, s, sec, seconds, min, minutes;
- size: KB, kB, KiB, MB, MiB, GB, GiB;
- rate: tok/s, tokens/s, req/s, requests/s, rps;
- share or ratio: %, and x or × written against the number (0.45x, 2×);
- counts of work: instructions, cycles;
optionally after ~ or ≈, with a magnitude (130k instructions) or as a range (0.25–0.5 ms). A
number with a k or M magnitude and no unit (700k, 94 M) is a measured count too.

Not figures, because they carry no unit: exit codes (exit 130), HTTP statuses (HTTP 503), file
modes (0600), versions (typer 0.29), hex constants (0x6368...), counts of things (8 clients,
16 at a time), settings' values written as numbers (n_ctx 8192).

One exception: a value a library or our code sets, described as its default. A figure with no
~ or ≈ in front is allowed when the word "default" comes shortly before it on the same line
("llama.cpp's default prompt cache is 8 GiB"). Anything else goes to docs/, bench output or a
commit message; the comment keeps the reason, as a sentence.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chatbot_cli"

_NUMBER = r"(?<![\w.])(?P<approx>[~≈]\s?)?\d[\d,_]*(?:\.\d+)?(?:\s?[–-]\s?\d[\d,_]*(?:\.\d+)?)?"
_UNIT = (
    r"(?:ns|µs|us|ms|s|secs?|seconds?|min|minutes?|KB|kB|KiB|MB|MiB|GB|GiB"
    r"|tok/s|tokens?/s|req/s|requests?/s|rps|instructions?|cycles)"
)
FIGURE = re.compile(
    _NUMBER
    + rf"(?:(?:\s?[kMG])?\s?{_UNIT}(?![\w/])"  # 190 µs, 130k instructions, 12 MB
    + r"|(?:%|[x×])(?!\w)"  # 8%, 0.45x, 2×
    + r"|\s?[kM](?!\w))"  # 700k, 94 M
)
_DEFAULT_WINDOW = 40


def figures(text: str) -> list[str]:
    """The measured figures in one line of comment or docstring text."""
    found = []
    for match in FIGURE.finditer(text):
        before = text[max(0, match.start() - _DEFAULT_WINDOW) : match.start()]
        if not match.group("approx") and "default" in before.lower():
            continue  # a default described as such
        found.append(match.group(0).strip())
    return found


def _comment_lines(source: str) -> Iterator[tuple[int, str]]:
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            for offset, line in enumerate(first.value.value.splitlines()):
                yield first.lineno + offset, line


def _toml_comment(line: str) -> str | None:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[i:]
    return None


def python_figures(path: Path) -> list[str]:
    rel = path.relative_to(ROOT)
    return [
        f"{rel}:{line}: {found!r} in {text.strip()!r}"
        for line, text in sorted(_comment_lines(path.read_text(encoding="utf-8")))
        for found in figures(text)
    ]


def test_no_figures_in_package_comments() -> None:
    hits = [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in python_figures(path)]
    assert not hits, "measured figures in comments (move them to docs/):\n" + "\n".join(hits)


def test_no_figures_in_pyproject_comments() -> None:
    hits = []
    lines = (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        comment = _toml_comment(line)
        if comment and figures(comment):
            hits.append(f"pyproject.toml:{number}: {comment}")
    assert not hits, "measured figures in comments (move them to docs/):\n" + "\n".join(hits)


@pytest.mark.parametrize(
    "text",
    [
        "# ~190 µs of ~340 µs a create",
        "ran at 0.45x the floor",
        "cost ~130k instructions a create",
        "one client got ~71 tok/s",
        "that tree is ~8% of a todo command",
        "(597 M vs 552 M instructions)",
        "a create's ~700k over the floor",
        "Alembic (~11 MB kept for its whole life)",
        "measured faster (0.25–0.5 ms vs 1.3 ms)",
        "about 20 µs of client time",
        "~100 ms more per command",
        "pydantic-settings would add ~0.1 s",
        "at ~120 tokens/s on 2 cores",
        "up to 3× faster",
        "the default took ~45 ms",
    ],
)
def test_measured_figures_are_found(text: str) -> None:
    assert figures(text)


@pytest.mark.parametrize(
    "text",
    [
        "exit 130 when interrupted",
        "a full queue is HTTP 503",
        "the file is created mode 0600",
        "typer 0.29 builds an adapter per parameter",
        "8 clients, 16 at a time",
        "MIGRATION_LOCK_ID = 0x63686174626F74",
        "each slot gets max(n_ctx/parallel, 1024) at n_ctx 8192",
        "llama.cpp's default host-side prompt cache is 8 GiB",
        "SQLSTATEs 57P01-57P03 and 53300",
        "Python 3.11 and SQLAlchemy 2",
        "a 2 x 3 grid",
        "%(asctime)s %(levelname)s",
    ],
)
def test_constants_are_not_figures(text: str) -> None:
    assert figures(text) == []
