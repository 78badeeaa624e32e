"""`raw_json`: a page written as JSON text by `TodoRows.leaf_json` reaches the HTTP response as
`json.dumps` would have written it; an in-process execution never sees it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatbot_cli.graphql import raw_json, todo_rows
from chatbot_cli.graphql.raw_json import RawJSON, dumps
from chatbot_cli.graphql.schema import create_schema
from tests.graphql.conftest import GQL
from tests.graphql.test_todo_rows import COLUMNS, _same_as_the_usual_way, _seed, _store


def test_dumps_is_json_dumps_with_raw_values_spliced_in() -> None:
    plain = {"data": {"a": [1, "é\x00", None], "b": {"c": True}}, "errors": [{"m": "x%s"}]}
    assert dumps(plain) == json.dumps(plain, separators=(",", ":"))
    rows = [{"id": 1, "t": '✓ "q"'}, {"id": 2, "t": "\x00"}]
    text = json.dumps(rows, separators=(",", ":"))
    spliced = {"data": {"x": RawJSON(text), "y": "\x00", "z": RawJSON("[]")}}
    assert dumps(spliced) == json.dumps(
        {"data": {"x": rows, "y": "\x00", "z": []}}, separators=(",", ":")
    )
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"x": object()})


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The JSON text of every page `leaf_json` wrote."""
    texts: list[str] = []
    real = todo_rows.TodoRows.leaf_json

    def counted(self: Any, plan: Any) -> Any:
        raw = real(self, plan)
        if raw is not None:
            texts.append(raw.text)
        return raw

    monkeypatch.setattr(todo_rows.TodoRows, "leaf_json", counted)
    return texts


SELECTIONS = [
    COLUMNS,
    "a: title id b: createdAt",
    "p: priority priority t: tags tags due",
    "title ... on Todo { id notes }",
    "... @skip(if: true) { id }",  # no field at all: each todo is {}
    "id __typename",  # not a column: the usual way
    "id urgency",  # computed: a column of its own, made when selected
]


@pytest.mark.parametrize("selection", SELECTIONS)
def test_http_pages_are_the_usual_bytes(
    gql_sqlite: GQL, written: list[str], selection: str
) -> None:
    _seed(gql_sqlite)
    # Text that JSON must escape, and text outside ASCII.
    _store(
        gql_sqlite, "UPDATE todos SET notes = 'a\"b\\c\x01' || char(10) || '\u2028' WHERE id = 1"
    )
    body = _same_as_the_usual_way(gql_sqlite, f"{{ todos {{ {selection} }} }}")
    assert "errors" not in body and len(body["data"]["todos"]) == 2
    columns_only = "__typename" not in selection
    assert bool(written) is (columns_only and "@skip" not in selection)


def test_a_loose_value_still_takes_the_usual_way(gql_sqlite: GQL, written: list[str]) -> None:
    _seed(gql_sqlite)
    _store(gql_sqlite, "UPDATE todos SET created_at = 12 WHERE id = 2")
    _same_as_the_usual_way(gql_sqlite, f"{{ todos {{ {COLUMNS} }} }}")
    assert written == []


def test_an_in_process_execution_gets_plain_lists(gql_sqlite: GQL, written: list[str]) -> None:
    """The MCP server executes the schema with its own context: no `RawJSON` in its data."""
    _seed(gql_sqlite)
    context = {"database": gql_sqlite.database, "owner": "default"}
    result = gql_sqlite.client.portal.call(  # type: ignore[union-attr]
        lambda: create_schema().execute("{ todos { id title } }", context_value=context)
    )
    assert result.errors is None and written == []
    assert [t["title"] for t in result.data["todos"]] == ["full ✓", "plain"]
    assert raw_json.FLAG not in context
