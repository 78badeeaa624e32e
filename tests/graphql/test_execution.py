"""`LeafFieldsExecutionContext` answers byte for byte what graphql-core's own execution does.

Each document is sent twice through the whole app (HTTP, auth, Strawberry): once as served, and
once with the schema switched back to Strawberry's own execution context. The response bodies
must be the same bytes: every field of a todo (nulls and values, enums, lists, datetimes, the
computed urgency), aliases, fragments, `__typename`, directives, nested pages and errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from chatbot_cli.db import urgency
from chatbot_cli.db.models import utcnow
from chatbot_cli.graphql import types
from chatbot_cli.graphql.execution import LeafFieldsExecutionContext
from tests.graphql.conftest import GQL

EVERY = "id title completed createdAt updatedAt due priority tags project notes uid urgency"
CREATE = """mutation ($t: String!, $d: DateTime, $p: Priority, $g: [String!], $j: String,
  $n: String) {
  createTodo(title: $t, due: $d, priority: $p, tags: $g, project: $j, notes: $n) { id }
}"""

DOCUMENTS = [
    f"{{ todos(limit: 1000) {{ {EVERY} }} }}",
    "{ todos(limit: 1000) { id title completed createdAt updatedAt } }",
    f"{{ todos(sort: URGENCY) {{ __typename {EVERY} }} }}",
    "{ a: todos(limit: 3) { x: id y: title id } b: todos(completed: true) { ...F } }"
    " fragment F on Todo { id tags priority due }",
    "query ($s: Boolean!) { todos { id title @skip(if: $s) notes @include(if: $s) } }",
    f"{{ todosConnection(first: 7) {{ totalCount pageInfo {{ hasNextPage endCursor }} "
    f"nodes {{ {EVERY} }} }} }}",
    f"{{ todo(id: 2) {{ {EVERY} }} missing: todo(id: 999999) {{ id }} }}",
    "{ todos(limit: -1) { id } }",
]


def _seed(gql: GQL) -> None:
    rows: list[dict[str, Any]] = [
        {"t": "plain"},
        {"t": "Call mom", "d": "2030-01-02T17:00:00+01:00", "p": "HIGH", "g": ["family", "x"]},
        {"t": "überfällig ✓", "d": "2001-05-06T07:08:09Z", "p": "LOW", "j": "home", "n": "*a*"},
        {"t": 'quote " and \\ back', "g": ["solo"], "p": "MEDIUM", "n": "line\nnext"},
    ]
    for i in range(40):
        gql.ok(CREATE, rows[i % len(rows)])
    for todo_id in (3, 7, 11):
        done = "mutation ($id: Int!) { updateTodo(id: $id, completed: true) { id } }"
        gql.ok(done, {"id": todo_id})


@contextmanager
def _graphql_core_execution() -> Iterator[None]:
    """graphql-core's own field and list-item completion and sub-selection collection, as before
    the short way."""
    names = (
        "execute_fields",
        "complete_iterable_value",
        "complete_list_item_value",
        "collect_subfields",
    )
    short = {name: LeafFieldsExecutionContext.__dict__[name] for name in names}
    base = StrawberryGraphQLCoreExecutionContext
    for name in names:
        setattr(LeafFieldsExecutionContext, name, getattr(base, name))
    try:
        yield
    finally:
        for name in names:
            setattr(LeafFieldsExecutionContext, name, short[name])


@pytest.mark.parametrize("skip", [True, False])
def test_responses_are_byte_for_byte_graphql_cores(
    gql: GQL, skip: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(gql)
    # Urgency grows with age (to 6 decimals): the two requests of a pair must see the same clock.
    now = utcnow()
    monkeypatch.setattr(urgency, "utcnow", lambda: now)
    for document in DOCUMENTS:
        ours = gql.post(document, {"s": skip})
        with _graphql_core_execution():
            theirs = gql.post(document, {"s": skip})
        assert ours.status_code == theirs.status_code
        assert ours.content == theirs.content, document
    # A mutation's answer too (createTodo completes a Todo through the same path).
    mutation = CREATE.replace("{ id }", "{ " + EVERY + " }")
    variables = {"t": "x", "d": "2030-01-02T17:00:00Z", "p": "HIGH", "g": ["a", "b"], "n": "n"}
    with _graphql_core_execution():
        theirs = gql.post(mutation, variables)
    ours = gql.post(mutation, variables)
    # Two creates differ in their id and times only: blank those, compare the rest as bytes.
    own = re.compile(rb'"(id|createdAt|updatedAt)":("[^"]*"|\d+)')
    assert own.sub(rb"\1", ours.content) == own.sub(rb"\1", theirs.content)
    assert ours.content.count(b'"createdAt":"') == 1
    # The documents did reach the todos (an error everywhere would compare equal too).
    page = gql.ok(f"{{ todos(limit: 1000) {{ {EVERY} }} }}")["todos"]
    assert len(page) == 42
    assert {t["priority"] for t in page} == {"NONE", "LOW", "MEDIUM", "HIGH"}
    assert any(t["due"] for t in page) and any(t["completed"] for t in page)


def test_a_field_extension_resolving_fields_turns_the_short_way_off() -> None:
    from graphql.execution.middleware import MiddlewareManager

    class Upper:
        def resolve(self, next_: Any, root: Any, info: Any, **args: Any) -> Any:
            return next_(root, info, **args)

    assert LeafFieldsExecutionContext._uses_short_way(MiddlewareManager())
    assert not LeafFieldsExecutionContext._uses_short_way(MiddlewareManager(Upper()))
    assert LeafFieldsExecutionContext._uses_short_way(None)


def test_a_plain_sub_selection_is_collected_once_for_every_request(
    gql: GQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    """createTodo's `{ id title }` is collected by graphql-core on the first request only; a
    selection with @skip/@include (its variables decide) or a fragment on every request."""
    collected: list[str] = []
    real = StrawberryGraphQLCoreExecutionContext.collect_subfields

    def counted(self: Any, return_type: Any, field_details_list: Any) -> Any:
        collected.append(return_type.name)
        return real(self, return_type, field_details_list)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "collect_subfields", counted)
    plain = 'mutation { createTodo(title: "x") { id title } }'
    for _ in range(3):
        assert gql.ok(plain)["createTodo"]["title"] == "x"
    assert collected == ["Todo"]
    collected.clear()
    skip = 'mutation ($s: Boolean!) { createTodo(title: "y") { id title @skip(if: $s) } }'
    assert gql.ok(skip, {"s": True})["createTodo"].keys() == {"id"}
    assert gql.ok(skip, {"s": False})["createTodo"].keys() == {"id", "title"}
    spread = 'mutation { createTodo(title: "z") { ...F } } fragment F on Todo { id title }'
    assert gql.ok(spread)["createTodo"]["title"] == "z"
    assert gql.ok(spread)["createTodo"]["title"] == "z"
    assert collected == ["Todo"] * 4


def test_a_pure_resolver_that_raises_answers_as_graphql_core_does(
    gql: GQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The short way calls a PURE resolver; one that raises sends its row through graphql-core,
    which calls it again and reports the error at its path, byte for byte as before."""
    _seed(gql)
    real = types.urgency_of

    def failing(record: Any) -> float:
        if record.id == 5:
            raise ValueError("no urgency")
        return real(record)

    monkeypatch.setattr(types, "urgency_of", failing)
    now = utcnow()
    monkeypatch.setattr(urgency, "utcnow", lambda: now)
    document = f"{{ todos(limit: 1000) {{ {EVERY} }} }}"
    ours = gql.post(document)
    with _graphql_core_execution():
        theirs = gql.post(document)
    assert ours.content == theirs.content
    body = ours.json()
    assert [e["path"] for e in body["errors"]] == [["todos", 35, "urgency"]]
    assert body["data"] is None  # urgency is non-null, and so is every todo in the list
