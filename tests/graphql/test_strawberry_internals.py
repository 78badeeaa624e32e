"""The guard for what graphql/schema.py takes from Strawberry beyond its documented API.

`TextValidationCache` calls `strawberry.schema.schema.validate_document` on the private
`Schema._schema` and relies on Strawberry skipping its own validation once an extension has set
`pre_execution_errors`; `DepthLimit`/`AliasLimit` build the limiters' rules once and call
`AddValidationRules.__init__` directly; `TodoGraphQLRouter` overrides `run` and `parse_http_body`
of Strawberry's view; graphql/operations.py reads `ExecutionContext._provided_operation_name`.
Strawberry is pinned in pyproject.toml; these tests fail when an upgrade renames or changes any
of it, instead of an override, the cache or the operation check silently stopping to apply.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
import strawberry.schema.schema as strawberry_schema
from graphql import GraphQLSchema
from strawberry.extensions import AddValidationRules, MaskErrors, QueryDepthLimiter
from strawberry.extensions.max_aliases import MaxAliasesLimiter
from strawberry.fastapi import GraphQLRouter
from strawberry.types import ExecutionContext

from chatbot_cli.graphql import schema as ours


def _params(fn: Any) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_private_names_still_exist() -> None:
    assert _params(strawberry_schema.validate_document) == [
        "schema",
        "document",
        "validation_rules",
    ]
    assert isinstance(ours.create_schema()._schema, GraphQLSchema)
    fields = set(ExecutionContext.__dataclass_fields__)
    assert {"query", "schema", "graphql_document", "validation_rules"} <= fields
    assert "pre_execution_errors" in fields


def test_limiters_still_only_add_validation_rules() -> None:
    # DepthLimit and AliasLimit skip the limiters' own __init__ (which builds a new rule class
    # per request) and hand their prebuilt rule to AddValidationRules.
    assert issubclass(QueryDepthLimiter, AddValidationRules)
    assert issubclass(MaxAliasesLimiter, AddValidationRules)
    assert _params(AddValidationRules.__init__) == ["self", "validation_rules"]
    assert ours.DepthLimit().validation_rules == [ours._DEPTH_RULE]
    assert ours.AliasLimit().validation_rules == [ours._ALIAS_RULE]


@pytest.mark.parametrize(
    ("base", "name", "params"),
    [
        (GraphQLRouter, "run", ["self", "request", "context", "root_value"]),
        (GraphQLRouter, "parse_http_body", ["self", "request"]),
        (MaskErrors, "anonymise_error", ["self", "error"]),
    ],
)
def test_overridden_methods_still_exist(base: type, name: str, params: list[str]) -> None:
    method = getattr(base, name, None)
    assert method is not None, f"{base.__name__}.{name} is gone: our override no longer applies"
    assert _params(method) == params


def test_validation_runs_once_per_query_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ours validates a query text once; Strawberry's own validation never runs after it."""
    calls = {"ours": 0, "strawberry": 0}
    real = strawberry_schema.validate_document

    def counted(who: str) -> Any:
        def validate(*args: Any) -> Any:
            calls[who] += 1
            return real(*args)

        return validate

    monkeypatch.setattr(ours, "validate_document", counted("ours"))
    monkeypatch.setattr(strawberry_schema, "validate_document", counted("strawberry"))
    monkeypatch.setattr(ours, "_validated", type(ours._validated)())
    schema = ours.create_schema()
    query = "{ __typename }"
    for _ in range(3):
        result = asyncio.run(schema.execute(query))
        assert result.errors is None and result.data == {"__typename": "Query"}
    assert calls == {"ours": 1, "strawberry": 0}
    bad = asyncio.run(schema.execute("{ nope }"))
    assert bad.errors and bad.errors[0].extensions == {"code": "GRAPHQL_VALIDATION_FAILED"}


def test_strawberry_still_keeps_the_provided_operation_name() -> None:
    """graphql/operations.py reads ExecutionContext._provided_operation_name (strawberry has no
    public way to tell "no operationName" from "the first operation's name"): this fails when
    strawberry renames it, before the check silently stops working."""
    from graphql import parse
    from strawberry.types.graphql import OperationType

    document = 'mutation B { createTodo(title: "x") { id } } query A { todos { id } }'
    schema = ours.create_schema()
    for provided in (None, "A"):
        ctx = ExecutionContext(
            query=document,
            schema=schema,
            allowed_operations=[OperationType.QUERY],
            provided_operation_name=provided,
            graphql_document=parse(document),
        )
        assert ctx._provided_operation_name == provided
        assert ctx.operation_name == (provided or "B")  # the fallback the check works around


def test_the_short_way_still_meets_graphql_cores_execution() -> None:
    """graphql/execution.py overrides graphql-core's `execute_fields`, `complete_iterable_value`,
    `complete_list_item_value` and `collect_subfields` (a 3-tuple, from field details with
    `node`, `defer_usage` and `fragment_variable_values`), calls `get_stream_usage`, reads the
    middleware manager's `middlewares`, Strawberry's `_is_default` mark on an attribute resolver,
    the field definition under `extensions["strawberry-definition"]` with its `base_resolver`
    (`is_async`, `self_parameter`, `signature`, `wrapped_func`) and `metadata`, and an enum
    type's `wrapped_cls`. Any of them renamed would make the short way silently stop applying
    (or apply where it must not)."""
    from graphql import GraphQLObjectType
    from graphql.execution.collect_fields import CollectedFields, FieldDetails
    from graphql.execution.middleware import MiddlewareManager
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext as Base

    from chatbot_cli.cli.todo_queries import FIELDS
    from chatbot_cli.graphql.execution import LeafFieldsExecutionContext
    from chatbot_cli.graphql.leaf_fields import PURE
    from chatbot_cli.graphql.types import Priority

    assert issubclass(LeafFieldsExecutionContext, Base)
    assert _params(Base.execute_fields) == _params(LeafFieldsExecutionContext.execute_fields)
    assert _params(Base.execute_fields) == [
        "self", "parent_type", "source_value", "path", "grouped_field_set", "position_context",
    ]  # fmt: skip
    assert _params(Base.complete_list_item_value) == [
        "self", "item", "complete_results", "item_type", "field_details_list", "info",
        "item_path", "position_context",
    ]  # fmt: skip
    assert _params(Base.collect_subfields) == ["self", "return_type", "field_details_list"]
    assert _params(Base.complete_iterable_value) == [
        "self", "item_type", "field_details_list", "info", "path", "items", "position_context",
    ]  # fmt: skip
    assert _params(Base.get_stream_usage) == ["self", "field_details_list", "path"]
    assert FieldDetails._fields == ("node", "defer_usage", "fragment_variable_values")
    assert CollectedFields._fields[0] == "grouped_field_set" and len(CollectedFields._fields) == 3
    assert MiddlewareManager().middlewares == ()
    schema = ours.create_schema()
    assert schema.execution_context_class is LeafFieldsExecutionContext
    todo = schema._schema.type_map["Todo"]
    assert isinstance(todo, GraphQLObjectType)
    title = todo.fields["title"]
    assert getattr(title.resolve, "_is_default", False) is True
    assert title.extensions["strawberry-definition"].is_basic_field
    assert not getattr(todo.fields["urgency"].resolve, "_is_default", False)
    resolver = todo.fields["urgency"].extensions["strawberry-definition"].base_resolver
    assert resolver.is_async is False and resolver.self_parameter is not None
    assert list(resolver.signature.parameters) == ["self"] and callable(resolver.wrapped_func)
    assert todo.fields["urgency"].extensions["strawberry-definition"].metadata == {PURE: True}
    priority = schema._schema.type_map["Priority"]
    assert getattr(priority, "wrapped_cls", None) is Priority
    # And the plans say so: every field the CLI lists (urgency, a PURE resolver, included) and
    # `__typename` take the short way, each read its own way.
    fields = [*FIELDS.split(), "__typename"]
    plan = LeafFieldsExecutionContext._plan(
        LeafFieldsExecutionContext.__new__(LeafFieldsExecutionContext),
        todo,
        {name: [_Details(name)] for name in fields},
    )
    assert plan.whole
    ways = {step[0]: (step[2], step[3] is not None) for step in plan}
    assert ways["title"] == ("title", False) and ways["createdAt"] == ("created_at", False)
    assert ways["urgency"] == (None, True) and ways["__typename"] == (None, True)


class _Details:
    """A FieldDetails stand-in: a field node without arguments, directives or defer."""

    def __init__(self, name: str) -> None:
        from graphql import FieldNode, NameNode

        self.node = FieldNode(name=NameNode(value=name), arguments=(), directives=())
        self.defer_usage = None
