"""Hostile and malformed requests: always a 4xx or a GraphQL error, never a 500, and the
database is unchanged."""

from __future__ import annotations

import json

import pytest

from chatbot_cli.db import todos as db_todos
from tests.graphql.conftest import DEFAULT_KEY, GQL

AUTH = {"Authorization": f"Bearer {DEFAULT_KEY}"}


def raw(gql: GQL, body: bytes, content_type: str = "application/json") -> tuple[int, object]:
    response = gql.client.post(
        "/graphql", content=body, headers={**AUTH, "content-type": content_type}
    )
    assert response.status_code < 500, response.text
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b'"a string"', "application/json"),
        (b"42", "application/json"),
        (b"null", "application/json"),
        (b"[]", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json"),
        (b'{"query": 5}', "application/json"),
        (b'{"query": "{ todos { id } }", "variables": []}', "application/json"),
        (b'{"query": "{ todos { id } }", "operationName": 7}', "application/json"),
        (b"query { todos { id } }", "text/plain"),
        (b"query=x", "application/x-www-form-urlencoded"),
        (b"{}", "application/json"),
    ],
)
def test_transport_garbage_is_4xx(gql_sqlite: GQL, body: bytes, content_type: str) -> None:
    status, payload = raw(gql_sqlite, body, content_type)
    assert 400 <= status < 500
    assert isinstance(payload, dict) and payload["errors"][0]["message"]


def graphql_errors(gql: GQL, query: str, variables: dict | None = None) -> list[dict]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    status, payload = raw(gql, body)
    assert isinstance(payload, dict)
    errors = payload.get("errors") or []
    assert errors, payload
    for error in errors:
        assert error["extensions"]["code"], error
    return errors


def test_deep_nesting_refused(gql_sqlite: GQL) -> None:
    deep_fields = "{ todos " + "{ id " * 200 + "}" * 201
    graphql_errors(gql_sqlite, deep_fields)
    braces = "{" * 5000 + "}" * 5000
    graphql_errors(gql_sqlite, braces)
    fragment_loop = "query { ...A } fragment A on Query { ...A }"
    graphql_errors(gql_sqlite, fragment_loop)


def test_many_aliases_refused(gql_sqlite: GQL) -> None:
    query = "{ " + " ".join(f"a{i}: todos {{ id }}" for i in range(100)) + " }"
    errors = graphql_errors(gql_sqlite, query)
    assert "alias" in errors[0]["message"].lower()
    mutation = (
        "mutation { "
        + " ".join(f'm{i}: createTodo(title: "x") {{ id }}' for i in range(100))
        + " }"
    )
    graphql_errors(gql_sqlite, mutation)
    assert gql_sqlite.run(db_todos.list_todos, "default") == []


def test_too_many_tokens_refused(gql_sqlite: GQL) -> None:
    query = "{ todos { " + "id " * 5000 + "} }"
    errors = graphql_errors(gql_sqlite, query)
    assert "token" in errors[0]["message"].lower()


@pytest.mark.parametrize(
    "title",
    ["a\x00b", "\ud800", "x\udfffy", "x" * 100_000, "", " ", "line\nbreak", "\x1b[31mred"],
)
def test_bad_titles_via_variables_write_nothing(gql_sqlite: GQL, title: str) -> None:
    errors = graphql_errors(
        gql_sqlite, "mutation ($t: String!) { createTodo(title: $t) { id } }", {"t": title}
    )
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert gql_sqlite.run(db_todos.list_todos, "default") == []


@pytest.mark.parametrize("value", ["\ud800", "a\x00", "x" * 10_000])
def test_bad_search_strings(gql_sqlite: GQL, value: str) -> None:
    errors = graphql_errors(
        gql_sqlite, "query ($s: String) { todos(search: $s) { id } }", {"s": value}
    )
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "variables",
    [
        {"id": "abc"},
        {"id": 2**40},
        {"id": None},
        {"id": 1.5},
        {"id": [1]},
        {"id": {"a": 1}},
    ],
)
def test_bad_variable_types(gql_sqlite: GQL, variables: dict) -> None:
    errors = graphql_errors(gql_sqlite, "query ($id: Int!) { todo(id: $id) { id } }", variables)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "title", ["שלום", "مرحبا بالعالم", "🎉 party 👩‍💻", "\u202eevil", "Ünïcödé"]
)
def test_unicode_titles_stored_exactly(gql_sqlite: GQL, title: str) -> None:
    made = gql_sqlite.ok(
        "mutation ($t: String!) { createTodo(title: $t) { id title } }", {"t": title}
    )["createTodo"]
    assert made["title"] == title
    assert gql_sqlite.ok(f"{{ todo(id: {made['id']}) {{ title }} }}")["todo"]["title"] == title


def test_get_queries_work_and_get_mutations_refused(gql_sqlite: GQL) -> None:
    response = gql_sqlite.client.get("/graphql", params={"query": "{ todos { id } }"}, headers=AUTH)
    assert response.status_code == 200 and response.json()["data"] == {"todos": []}
    response = gql_sqlite.client.get(
        "/graphql", params={"query": 'mutation { createTodo(title: "x") { id } }'}, headers=AUTH
    )
    assert 400 <= response.status_code < 500
    assert gql_sqlite.run(db_todos.list_todos, "default") == []


def test_other_methods_refused(gql_sqlite: GQL) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = gql_sqlite.client.request(method, "/graphql", headers=AUTH)
        assert 400 <= response.status_code < 500


def test_unexpected_errors_are_masked(gql_sqlite: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(db_todos, "list_todo_rows", boom)
    errors = graphql_errors(gql_sqlite, "{ todos { id } }")
    assert errors[0]["message"] == "Unexpected error."
    assert errors[0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in json.dumps(errors)


def test_websocket_handshake_refused_not_500(gql_sqlite: GQL) -> None:
    from starlette.websockets import WebSocketDisconnect

    with (
        pytest.raises(WebSocketDisconnect),
        gql_sqlite.client.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"], headers=AUTH
        ) as ws,
    ):
        ws.send_json({"type": "connection_init"})
        ws.receive_json()


def test_validation_errors_repeat_from_the_cache(gql_sqlite: GQL) -> None:
    """The validation cache hands out the same verdict every time, codes included (error
    processing rewrites the list it gets, so the cache must not hand out its own)."""
    query = "{ todos { id nope } }"
    seen = [graphql_errors(gql_sqlite, query) for _ in range(3)]
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "nope" in seen[0][0]["message"]
    status, payload = raw(gql_sqlite, json.dumps({"query": "{ todos { id } }"}).encode())
    assert status == 200 and payload == {"data": {"todos": []}}


def post_operation(gql: GQL, query: str, **extra: object) -> tuple[int, dict]:
    body = json.dumps({"query": query, **extra}).encode()
    status, payload = raw(gql, body)
    assert isinstance(payload, dict)
    return status, payload


TWO_OPERATIONS = 'mutation B { createTodo(title: "sneaky") { id } } query A { todos { id } }'


def test_two_operations_without_a_name_run_nothing(gql_sqlite: GQL) -> None:
    # The GraphQL spec's GetOperation: with no operationName, a document must hold exactly one.
    for document in (TWO_OPERATIONS, "query A { todos { id } } query C { todos { title } }"):
        status, payload = post_operation(gql_sqlite, document)
        assert status == 200 and payload.get("data") is None, payload
        (error,) = payload["errors"]
        assert error["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
        assert "operationName" in error["message"]
    response = gql_sqlite.client.get("/graphql", params={"query": TWO_OPERATIONS}, headers=AUTH)
    assert response.status_code < 500 and response.json()["errors"], response.text
    assert gql_sqlite.run(db_todos.list_todos, "default") == []


def test_named_operation_of_several_runs_that_one(gql_sqlite: GQL) -> None:
    status, payload = post_operation(gql_sqlite, TWO_OPERATIONS, operationName="A")
    assert (status, payload) == (200, {"data": {"todos": []}})
    status, payload = post_operation(gql_sqlite, TWO_OPERATIONS, operationName="B")
    assert status == 200 and payload["data"]["createTodo"]["id"], payload
    assert [t.title for t in gql_sqlite.run(db_todos.list_todos, "default")] == ["sneaky"]
    # One operation, named or not, needs no operationName (the seed's examples send none).
    status, payload = post_operation(gql_sqlite, "query Only { todos { title } }")
    assert payload == {"data": {"todos": [{"title": "sneaky"}]}}


def test_unknown_operation_name_is_a_client_error(gql_sqlite: GQL) -> None:
    status, payload = post_operation(gql_sqlite, TWO_OPERATIONS, operationName="Nope")
    assert 200 <= status < 500, payload
    (error,) = payload["errors"]
    assert error["extensions"]["code"], error
    assert gql_sqlite.run(db_todos.list_todos, "default") == []
