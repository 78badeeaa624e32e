"""The todo tools' one definition: schemas, argument checks, and the GraphQL each call runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from chatbot_cli.errors import GraphQLNotFound
from chatbot_cli.todo_tools import (
    TOOLS,
    ToolArgumentError,
    describe_call,
    openai_tools,
    parse_arguments,
    pending_summary,
    run_tool,
)

TODO = {"id": 3, "title": "Buy milk", "completed": False, "due": None, "priority": "HIGH",
        "tags": ["shop"], "project": None, "notes": None}  # fmt: skip


class Recorder:
    """A GraphQL runner that records what it was asked and answers from a table."""

    def __init__(self, data: dict[str, Any] | Exception) -> None:
        self.data = data
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((query, variables))
        if isinstance(self.data, Exception):
            raise self.data
        return self.data


def test_every_schema_is_a_valid_json_schema_in_openai_shape() -> None:
    for tool in openai_tools():
        assert tool["type"] == "function"
        function = tool["function"]
        Draft202012Validator.check_schema(function["parameters"])
        assert function["parameters"]["additionalProperties"] is False
        assert function["description"]
    assert {t["function"]["name"] for t in openai_tools()} == set(TOOLS)


def test_add_todo_takes_every_todo_field() -> None:
    fields = set(TOOLS["add_todo"]["parameters"]["properties"])
    assert fields == {"title", "due", "priority", "tags", "project", "notes"}
    assert set(TOOLS["edit_todo"]["parameters"]["properties"]) == fields | {"id"}


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("add_todo", "{not json", "not valid JSON"),
        ("add_todo", "[1]", "JSON object"),
        ("add_todo", {}, "'title' is a required property"),
        ("add_todo", {"title": "x", "priority": "urgent"}, "(priority)"),
        ("add_todo", {"title": "x", "colour": "red"}, "Additional properties"),
        ("complete_todo", {"id": "3"}, "(id)"),
        ("complete_todo", {"id": 0}, "(id)"),
        ("list_todos", {"limit": 1000}, "(limit)"),
        ("fly", {}, "Unknown tool 'fly'"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(name: str, raw: Any, says: str) -> None:
    with pytest.raises(ToolArgumentError, match=None) as info:
        parse_arguments(name, raw)
    assert says in str(info.value)


def test_a_refused_call_runs_no_graphql() -> None:
    graphql = Recorder({})
    for name, raw in [
        ("add_todo", '{"title": "x", "due": "when pigs fly"}'),
        ("add_todo", {"title": "x", "tags": "shop"}),
        ("edit_todo", {"id": 3}),
        ("delete_todo", {}),
    ]:
        result = run_tool(graphql, name, raw)
        assert not result.ok and result.error
        assert json.loads(result.content()) == {"error": result.error}
        # A due date that does not parse, or nothing to edit, is a well-formed call.
        assert result.malformed is (name in ("add_todo", "delete_todo") and "tags" in str(raw)
                                    or name == "delete_todo")  # fmt: skip
    assert graphql.calls == []


def test_add_sends_every_field_once() -> None:
    graphql = Recorder({"createTodo": TODO})
    args = {"title": "Buy milk", "due": "2030-01-02", "priority": "high", "tags": ["shop"],
            "project": "home", "notes": "2 litres"}  # fmt: skip
    result = run_tool(graphql, "add_todo", json.dumps(args))
    assert result.ok
    assert result.result == {"added": {"id": 3, "title": "Buy milk", "status": "pending",
                                       "priority": "high", "tags": ["shop"]}}  # fmt: skip
    [(query, variables)] = graphql.calls
    assert "createTodo" in query
    assert variables["priority"] == "HIGH" and variables["project"] == "home"
    assert variables["due"].startswith("2030-01-02T")


def test_edit_changes_only_what_is_given_and_null_clears() -> None:
    graphql = Recorder({"updateTodo": TODO})
    run_tool(graphql, "edit_todo", {"id": 3, "project": None, "title": "Buy oat milk"})
    [(query, variables)] = graphql.calls
    assert variables == {"id": 3, "project": None, "title": "Buy oat milk"}
    assert "$project: String" in query and "due" not in query.split("{")[1]


def test_list_defaults_to_pending_most_urgent_first() -> None:
    page = {"todosConnection": {"nodes": [TODO], "pageInfo": {"hasNextPage": True}}}
    graphql = Recorder(page)
    result = run_tool(graphql, "list_todos", None)
    [(_, variables)] = graphql.calls
    assert variables["completed"] is False and variables["sort"] == "URGENCY"
    assert result.result["more"] is True and result.result["todos"][0]["id"] == 3
    run_tool(graphql, "list_todos", {"status": "all", "due": "overdue"})
    assert graphql.calls[1][1]["completed"] is None and graphql.calls[1][1]["overdue"] is True


def test_server_errors_become_tool_errors() -> None:
    result = run_tool(Recorder(GraphQLNotFound("Todo 9 not found.")), "delete_todo", {"id": 9})
    assert result.error == "Todo 9 not found."
    assert result.to_json() == {"name": "delete_todo", "arguments": {"id": 9},
                                "error": "Todo 9 not found."}  # fmt: skip


def test_describe_call_is_one_line() -> None:
    assert describe_call("add_todo", {"title": "Buy milk"}) == 'add_todo(title="Buy milk")'
    assert describe_call("add_todo", '{"broken') == 'add_todo({"broken)'


def test_pending_summary() -> None:
    assert pending_summary([], False) == "The user has no pending todos."
    text = pending_summary([TODO], True)
    assert "(1+)" in text and "#3 Buy milk (priority high; tags +shop)" in text
