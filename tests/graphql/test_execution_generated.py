"""Generated documents answer byte for byte what the general path answers.

The short way (`graphql/execution.py`) and the text-time reading of SQLite pages
(`db/todo_record.py`) must not change one byte of any response. Each generated document (field
subsets in random order, aliases, arguments, fragments, directives, variables, `__typename`,
several root fields, refused arguments) is posted through the whole app twice: as served, and with
graphql-core's own field and list completion and UTCDateTime's own conversion of every stored
time put back. On both databases; on SQLite some stored times are also rewritten in shapes
SQLAlchemy does not write (an offset, a `T`, no fraction, a bare date), which must take the
general conversion and still answer the same.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, text

from chatbot_cli.db import todo_record, urgency
from chatbot_cli.db.models import UTCDateTime, utcnow
from tests.graphql.conftest import GQL
from tests.graphql.test_execution import _graphql_core_execution

FIELDS = [
    "id",
    "title",
    "completed",
    "createdAt",
    "updatedAt",
    "due",
    "priority",
    "tags",
    "project",
    "notes",
    "uid",
    "urgency",
    "__typename",
]
ALIASES = ("a", "b", "x1", "when", "t", "id", "title")
SORTS = ("CREATED", "DUE", "PRIORITY", "URGENCY")
DOCUMENTS = 70


def _seed(gql: GQL) -> None:
    items: list[dict[str, Any]] = []
    for i in range(36):
        item: dict[str, Any] = {"title": f'todo {i} ✓ "q" \\ {"x" * (i % 3)}'}
        if i % 2:
            item["due"] = f"20{10 + i % 20}-0{1 + i % 9}-1{i % 10}T0{i % 10}:30:00Z"
        if i % 3 == 0:
            item["priority"] = ("LOW", "MEDIUM", "HIGH")[i % 9 // 3]
        if i % 4 == 0:
            item["tags"] = ["home", f"t{i % 5}"]
        if i % 5 == 0:
            item["project"] = "p" if i % 10 else "work"
        if i % 6 == 0:
            item["notes"] = "*md*\nline"
        if i % 7 == 0:
            item["uid"] = f"uid-{i}"
        if i % 8 == 1:
            item["completed"] = True
        # Times of every shape: whole seconds (isoformat leaves the fraction out), microseconds,
        # another zone, created and updated apart or the same.
        if i % 3 == 1:
            item["createdAt"] = f"2024-02-0{1 + i % 8}T10:11:12Z"
            item["updatedAt"] = f"2024-03-0{1 + i % 8}T10:11:12.000001+02:00"
        elif i % 3 == 2:
            item["createdAt"] = item["updatedAt"] = f"2025-01-01T00:00:{10 + i}.5Z"
        items.append(item)
    imported = gql.ok(
        "mutation ($i: [TodoImportInput!]!) { importTodos(items: $i) { created } }", {"i": items}
    )
    assert len(imported["importTodos"]["created"]) == len(items)
    for title in ("plain", "second"):
        gql.ok("mutation ($t: String!) { createTodo(title: $t) { id } }", {"t": title})
    gql.ok('mutation { updateTodo(id: 3, title: "edited") { id } }')


def _rewrite_stored_times(conn: Connection) -> None:
    """SQLite only: times in shapes SQLAlchemy does not write but fromisoformat reads."""
    shapes = {
        4: "2026-11-30T10:00:00.123456",
        5: "2026-11-30 10:00:00+01:00",
        6: "2026-11-30 10:00:00.123+05:00",
        7: "2026-11-30",
        8: "2026-11-30 10:00:00.000000",
    }
    for todo_id, stored in shapes.items():
        conn.execute(
            text("UPDATE todos SET updated_at = :t, due = :t WHERE id = :id"),
            {"t": stored, "id": todo_id},
        )


@contextmanager
def _general_path() -> Iterator[None]:
    """graphql-core's own completion and UTCDateTime's own conversion of every stored time."""
    convert = UTCDateTime().process_result_value
    fast = todo_record.utc_of_text
    todo_record.utc_of_text = lambda value: convert(value, None)  # type: ignore[assignment,return-value]
    try:
        with _graphql_core_execution():
            yield
    finally:
        todo_record.utc_of_text = fast


def _selection(rng: random.Random, fragments: list[str]) -> str:
    picked = rng.sample(FIELDS, rng.randint(1, 6))
    parts = []
    for field in picked:
        part = field
        if rng.random() < 0.25:
            part = f"{rng.choice(ALIASES)}: {field}"
        roll = rng.random()
        if roll < 0.08:
            part += f" @include(if: {rng.choice(['true', 'false'])})"
        elif roll < 0.16:
            part += " @skip(if: $s)"
        elif roll < 0.22:
            part = f"... on Todo {{ {part} }}"
        elif roll < 0.27:
            name = f"F{len(fragments)}"
            fragments.append(f"fragment {name} on Todo {{ {part} }}")
            part = f"...{name}"
        parts.append(part)
    return " ".join(parts)


def _arguments(rng: random.Random, page: str) -> str:
    args = []
    size = rng.choice([None, 0, 1, 7, 40, 1000, -1])
    if size is not None:
        args.append(f"{page}: {size}")
    if rng.random() < 0.4:
        args.append(f"sort: {rng.choice(SORTS)}")
    if rng.random() < 0.2:
        args.append(f"completed: {rng.choice(['true', 'false'])}")
    if rng.random() < 0.1:
        args.append(rng.choice(['tag: "home"', 'project: "work"', "priority: HIGH", 'search: "1"']))
    if page == "limit" and rng.random() < 0.15:
        args.append(f"offset: {rng.choice([0, 5, 100])}")
    return f"({', '.join(args)})" if args else ""


def _document(rng: random.Random) -> str:
    fragments: list[str] = []
    roots = []
    for _ in range(rng.choice([1, 1, 1, 2])):
        kind = rng.random()
        if kind < 0.6:
            root = f"todos{_arguments(rng, 'limit')} {{ {_selection(rng, fragments)} }}"
        elif kind < 0.85:
            root = (
                f"todosConnection{_arguments(rng, 'first')} {{ totalCount "
                f"pageInfo {{ hasNextPage }} nodes {{ {_selection(rng, fragments)} }} }}"
            )
        else:
            root = f"todo(id: {rng.choice([1, 2, 5, 7, 99999])}) {{ {_selection(rng, fragments)} }}"
        roots.append(f"r{len(roots)}: {root}" if roots or rng.random() < 0.2 else root)
    body = " ".join(roots)
    uses_variable = "$s" in body or any("$s" in f for f in fragments)
    head = "query ($s: Boolean!) " if uses_variable else ""
    return f"{head}{{ {body} }} {' '.join(fragments)}".strip()


def test_generated_documents_answer_the_same_bytes(
    gql: GQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    _answer_the_same_bytes(gql, monkeypatch, rewrite=False)


def test_generated_documents_answer_the_same_bytes_from_other_time_texts(
    gql_sqlite: GQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored times are text on SQLite only: there they are rewritten into other shapes."""
    _answer_the_same_bytes(gql_sqlite, monkeypatch, rewrite=True)


def _answer_the_same_bytes(gql: GQL, monkeypatch: pytest.MonkeyPatch, *, rewrite: bool) -> None:
    _seed(gql)
    if rewrite:
        gql.client.portal.call(gql.database.write, _rewrite_stored_times)  # type: ignore[union-attr]
    now = utcnow()  # urgency grows with age: both requests of a pair see the same clock
    monkeypatch.setattr(urgency, "utcnow", lambda: now)
    rng = random.Random(21)
    answered = 0
    for _ in range(DOCUMENTS):
        document = _document(rng)
        variables = {"s": rng.random() < 0.5}
        ours = gql.post(document, variables)
        with _general_path():
            theirs = gql.post(document, variables)
        assert ours.status_code == theirs.status_code, document
        assert ours.content == theirs.content, document
        body = ours.json()
        answered += bool(body.get("data")) and "errors" not in body
    # Most documents were answered with data (refusing all of them would compare equal too).
    assert answered >= DOCUMENTS // 2
