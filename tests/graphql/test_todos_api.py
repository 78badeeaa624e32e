"""The GraphQL API in-process: seed examples, every field, error codes, ownership."""

from __future__ import annotations

from datetime import datetime

import pytest

from chatbot_cli.db import todos as db_todos
from tests.graphql.conftest import GQL

SEED_QUERY = """query {
  todos {
    id
    title
    completed
    createdAt
  }
}"""
SEED_MUTATION = """mutation {
  createTodo(title: "Test Todo") {
    id
    title
    completed
    createdAt
  }
}"""
FIELDS = "id title completed createdAt updatedAt"


def create(gql: GQL, title: str, key: str | None = None) -> dict:
    kw = {"key": key} if key else {}
    return gql.ok(
        f"mutation ($t: String!) {{ createTodo(title: $t) {{ {FIELDS} }} }}", {"t": title}, **kw
    )["createTodo"]


def test_seed_examples_verbatim(gql: GQL) -> None:
    made = gql.ok(SEED_MUTATION)["createTodo"]
    assert made["title"] == "Test Todo" and made["completed"] is False
    assert isinstance(made["id"], int)
    assert datetime.fromisoformat(made["createdAt"]).utcoffset() is not None
    assert gql.ok(SEED_QUERY)["todos"] == [made]


def test_every_query_and_mutation(gql: GQL) -> None:
    a = create(gql, "alpha")
    b = create(gql, "Beta task")
    assert [t["id"] for t in gql.ok(f"{{ todos {{ {FIELDS} }} }}")["todos"]] == [b["id"], a["id"]]
    assert gql.ok(f"{{ todo(id: {a['id']}) {{ {FIELDS} }} }}")["todo"] == a

    updated = gql.ok(
        f'mutation {{ updateTodo(id: {a["id"]}, completed: true, title: " alpha 2 ") '
        f"{{ {FIELDS} }} }}"
    )["updateTodo"]
    assert updated["completed"] is True and updated["title"] == "alpha 2"
    assert updated["createdAt"] == a["createdAt"] and updated["updatedAt"] >= a["updatedAt"]

    query = "query ($c: Boolean, $s: String, $l: Int, $o: Int!) "
    query += "{ todos(completed: $c, search: $s, limit: $l, offset: $o) { id } }"
    assert gql.ok(query, {"c": True, "o": 0})["todos"] == [{"id": a["id"]}]
    assert gql.ok(query, {"c": False, "o": 0})["todos"] == [{"id": b["id"]}]
    assert gql.ok(query, {"s": "beta", "o": 0})["todos"] == [{"id": b["id"]}]
    assert gql.ok(query, {"l": 1, "o": 1})["todos"] == [{"id": a["id"]}]

    assert gql.ok("mutation { clearCompleted }")["clearCompleted"] == 1
    deleted = gql.ok(f"mutation {{ deleteTodo(id: {b['id']}) {{ {FIELDS} }} }}")["deleteTodo"]
    assert deleted == b
    assert gql.ok("{ todos { id } }")["todos"] == []


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ todo(id: 999) { id } }", "NOT_FOUND"),
        ("mutation { updateTodo(id: 999, completed: true) { id } }", "NOT_FOUND"),
        ("mutation { deleteTodo(id: 999) { id } }", "NOT_FOUND"),
        ('mutation { createTodo(title: "") { id } }', "BAD_USER_INPUT"),
        ('mutation { createTodo(title: "   ") { id } }', "BAD_USER_INPUT"),
        ('mutation { createTodo(title: "a\\u0000b") { id } }', "BAD_USER_INPUT"),
        ("{ todos(limit: -1) { id } }", "BAD_USER_INPUT"),
        ("{ todos(offset: -1) { id } }", "BAD_USER_INPUT"),
        ('{ todos(search: "\\u0000") { id } }', "BAD_USER_INPUT"),
        ("mutation { updateTodo(id: 1) { id } }", "BAD_USER_INPUT"),
        ("{ todos { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ todos(limit: 99999999999) { id } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ todos { id ", "GRAPHQL_PARSE_FAILED"),
        ('mutation { createTodo(title: "\\ud800") { id } }', "GRAPHQL_PARSE_FAILED"),
    ],
)
def test_error_codes(gql: GQL, query: str, code: str) -> None:
    if "updateTodo(id: 1)" in query:
        create(gql, "exists")
    error = gql.error(query)
    assert error["extensions"]["code"] == code, error
    assert error["message"] and "Traceback" not in error["message"]


def test_long_title_rejected_with_clear_message(gql: GQL) -> None:
    error = gql.error("mutation ($t: String!) { createTodo(title: $t) { id } }", {"t": "x" * 501})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "500" in error["message"]
    assert gql.ok("{ todos { id } }")["todos"] == []
    assert create(gql, "y" * 500)["title"] == "y" * 500


def test_ownership_matrix(gql: GQL) -> None:
    alice = gql.new_key("alice")
    bob = gql.new_key("bob")
    mine = create(gql, "alice's", key=alice)
    create(gql, "default's")
    theirs = create(gql, "bob's", key=bob)
    gql.ok(f"mutation {{ updateTodo(id: {theirs['id']}, completed: true) {{ id }} }}", key=bob)

    assert [t["title"] for t in gql.ok("{ todos { title } }", key=alice)["todos"]] == ["alice's"]
    assert [t["title"] for t in gql.ok("{ todos { title } }")["todos"]] == ["default's"]
    for query in (
        f"{{ todo(id: {theirs['id']}) {{ id }} }}",
        f'mutation {{ updateTodo(id: {theirs["id"]}, title: "hijack") {{ id }} }}',
        f"mutation {{ updateTodo(id: {theirs['id']}, completed: false) {{ id }} }}",
        f"mutation {{ deleteTodo(id: {theirs['id']}) {{ id }} }}",
    ):
        error = gql.error(query, key=alice)
        assert error["extensions"]["code"] == "NOT_FOUND", query
        # Exactly the message of an id that does not exist: nothing leaks.
        assert error["message"] == f"Todo {theirs['id']} not found."
    assert gql.ok("mutation { clearCompleted }", key=alice)["clearCompleted"] == 0
    assert gql.ok("{ todos(completed: true) { id } }", key=alice)["todos"] == []
    # Bob's todo is untouched by all of that.
    assert gql.ok(f"{{ todo(id: {theirs['id']}) {{ title completed }} }}", key=bob)["todo"] == {
        "title": "bob's",
        "completed": True,
    }
    assert gql.ok(f"{{ todo(id: {mine['id']}) {{ id }} }}", key=alice)["todo"]["id"] == mine["id"]


def test_revoked_key_refused_on_next_request(gql: GQL) -> None:
    key = gql.new_key("temp")
    create(gql, "t", key=key)
    gql.revoke("temp")
    response = gql.post("{ todos { id } }", key=key)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}],
)
def test_401_envelope_without_or_with_wrong_key(gql_sqlite: GQL, headers: dict) -> None:
    response = gql_sqlite.client.post("/graphql", json={"query": SEED_MUTATION}, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "invalid_api_key"
    assert gql_sqlite.run(db_todos.list_todos, "default") == []


def test_data_is_committed_per_mutation(gql: GQL) -> None:
    made = create(gql, "persisted")
    records = gql.run(db_todos.list_todos, "default")
    assert [r.id for r in records] == [made["id"]]
