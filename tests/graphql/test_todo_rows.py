"""`TodoRows`: a page selecting stored columns only is completed from the database's rows, no
`Todo` made; anything it does not take as it is goes the usual way, the same bytes either way."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, text

from chatbot_cli.cli.todo_queries import Q_PAGE
from chatbot_cli.db import urgency
from chatbot_cli.db.models import utcnow
from chatbot_cli.graphql.types import Todo
from tests.graphql.conftest import GQL
from tests.graphql.test_execution import CREATE, _graphql_core_execution

COLUMNS = "id title completed createdAt updatedAt due priority tags project notes uid"


def _seed(gql: GQL) -> None:
    gql.ok(CREATE, {"t": "plain"})
    gql.ok(CREATE, {"t": "full ✓", "d": "2030-01-02T17:00:00+01:00", "p": "HIGH",
                    "g": ["b", "a"], "j": "home", "n": "*md*"})  # fmt: skip
    gql.ok("mutation { updateTodo(id: 1, completed: true) { id } }")


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many `Todo` objects were made (counted as `Todo.from_record` calls)."""
    calls: list[int] = []
    real = Todo.from_record.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Todo], record: Any) -> Todo:
        calls.append(record.id)
        return real(cls, record)  # type: ignore[no-any-return]

    monkeypatch.setattr(Todo, "from_record", classmethod(counted))
    return calls


def _same_as_the_usual_way(gql: GQL, document: str) -> Any:
    ours = gql.post(document)
    with _graphql_core_execution():
        theirs = gql.post(document)
    assert ours.content == theirs.content, document
    return ours.json()


def test_stored_columns_are_completed_from_the_rows(gql_sqlite: GQL, made: list[int]) -> None:
    _seed(gql_sqlite)
    made.clear()
    for selection in (COLUMNS, "a: title id b: createdAt", "tags p: priority due priority"):
        data = gql_sqlite.ok(f"{{ todos {{ {selection} }} }}")
        assert len(data["todos"]) == 2
    assert made == []
    twice = gql_sqlite.ok("{ todos { p: priority priority t: tags tags } }")["todos"][0]
    assert twice == {"p": "HIGH", "priority": "HIGH", "t": ["a", "b"], "tags": ["a", "b"]}
    _same_as_the_usual_way(gql_sqlite, "{ todos { p: priority id priority } }")
    made.clear()
    full = gql_sqlite.ok(f"{{ todos {{ {COLUMNS} }} }}")["todos"][0]
    assert full["tags"] == ["a", "b"] and full["priority"] == "HIGH"
    assert full["due"] == "2030-01-02T16:00:00+00:00"
    # `urgency` is a column of its own (from the records, no `Todo`); `__typename` makes them.
    gql_sqlite.ok("{ todos { id urgency } }")
    assert made == []
    gql_sqlite.ok("{ todos { __typename id } }")
    assert sorted(made) == [1, 2]
    body = _same_as_the_usual_way(gql_sqlite, f"{{ todos {{ {COLUMNS} }} }}")
    assert "errors" not in body


def _store(gql: GQL, sql: str) -> None:
    def run(conn: Connection) -> None:
        conn.execute(text(sql))

    gql.client.portal.call(gql.database.write, run)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE todos SET title = 5 WHERE id = 2",  # String coerces an int: the usual way does
        "UPDATE todos SET id = 3000000000 WHERE id = 1",  # out of Int's range: an error
        "UPDATE todos SET priority = 9 WHERE id = 2",  # no such level: an error
        "UPDATE todos SET tags = 7 WHERE id = 2",
        "UPDATE todos SET created_at = 12 WHERE id = 2",
        "UPDATE todos SET due = 'soon' WHERE id = 2",
        "UPDATE todos SET project = 1.5 WHERE id = 2",
    ],
)
def test_a_value_not_taken_as_it_is_sends_the_page_the_usual_way(
    gql_sqlite: GQL, made: list[int], sql: str
) -> None:
    """Values another program could store in SQLite's loose columns: the page is answered as
    graphql-core answers it from `Todo` objects, errors and their paths included."""
    _seed(gql_sqlite)
    _store(gql_sqlite, sql)
    made.clear()
    body = _same_as_the_usual_way(gql_sqlite, f"{{ todos {{ {COLUMNS} }} }}")
    # The usual way was taken: todos were made, or reading the rows failed as it always did.
    assert made or body["errors"][0]["path"] == ["todos"]


def test_both_databases_rows_are_completed_from_the_rows(gql: GQL, made: list[int]) -> None:
    """SQLite's times come back as stored text, PostgreSQL's as datetimes: both pages are
    completed from their rows, no `Todo` made, the same bytes as the usual way."""
    _seed(gql)
    made.clear()
    assert len(gql.ok(f"{{ todos {{ {COLUMNS} }} }}")["todos"]) == 2
    assert made == []
    _same_as_the_usual_way(gql, f"{{ todos {{ {COLUMNS} }} }}")
    _same_as_the_usual_way(gql, "{ todos(sort: DUE) { due createdAt updatedAt } }")


def test_todo_lists_page_is_completed_from_the_rows_urgency_included(
    gql: GQL, made: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chatbot todo list`'s own document (todosConnection, every field, urgency order): its
    nodes are the page's rows, urgency a column scored from their records, no `Todo` made, and
    the bytes those of graphql-core's own way at the same instant; on both databases."""
    gql_sqlite = gql
    _seed(gql_sqlite)
    now = utcnow()
    monkeypatch.setattr(urgency, "utcnow", lambda: now)
    for sort in ("URGENCY", "CREATED", "DUE"):
        variables = {"sort": sort, "first": 1000}
        made.clear()
        ours = gql_sqlite.post(Q_PAGE, variables)
        assert made == [], sort
        with _graphql_core_execution():
            theirs = gql_sqlite.post(Q_PAGE, variables)
        assert ours.content == theirs.content, sort
        nodes = ours.json()["data"]["todosConnection"]["nodes"]
        assert [n["urgency"] for n in nodes if n["completed"]] == [0.0]
        assert all(type(n["urgency"]) is float for n in nodes)
    # A page of one and its cursor: the next page holds the other todo.
    first = gql_sqlite.ok(Q_PAGE, {"sort": "CREATED", "first": 1})["todosConnection"]
    assert first["pageInfo"]["hasNextPage"] is True
    after = {"sort": "CREATED", "first": 1, "after": first["pageInfo"]["endCursor"]}
    second = gql_sqlite.ok(Q_PAGE, after)["todosConnection"]
    assert [first["nodes"][0]["id"], second["nodes"][0]["id"]] == [2, 1]
    assert second["pageInfo"]["hasNextPage"] is False
