"""Which fields `leaf_fields.way` lets the short way read, and that what it reads (nulls, enums
from members and from values, `__typename`, a PURE resolver's result) is graphql-core's answer."""

from __future__ import annotations

import asyncio
import json
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLObjectType

from chatbot_cli.graphql.execution import LeafFieldsExecutionContext
from chatbot_cli.graphql.leaf_fields import PURE, way
from tests.graphql.test_execution import _graphql_core_execution


@strawberry.enum
class Level(Enum):
    LOW = "low"
    HIGH = "high"


@strawberry.type
class Row:
    n: int
    note: str | None
    calls: strawberry.Private[list[str]]

    @strawberry.field(metadata={PURE: True})
    def double(self) -> int:
        self.calls.append("double")
        return self.n * 2

    @strawberry.field
    def unmarked(self) -> int:
        self.calls.append("unmarked")
        return self.n

    @strawberry.field(metadata={PURE: True})
    def with_info(self, info: strawberry.Info[Any, Any]) -> str:
        return info.field_name

    @strawberry.field(metadata={PURE: True})
    def with_argument(self, k: int = 1) -> int:
        return self.n * k

    @strawberry.field(metadata={PURE: True})
    async def later(self) -> int:
        return self.n

    @strawberry.field(metadata={PURE: True})
    def level(self) -> Level:
        return Level.HIGH if self.n % 2 else Level.LOW

    @strawberry.field(metadata={PURE: True})
    def raw_level(self) -> Level:
        return "high"  # type: ignore[return-value]  # a value, not a member: graphql-core's way


CALLS: list[str] = []


@strawberry.type
class RowQuery:
    @strawberry.field
    def rows(self) -> list[Row]:
        return [Row(n=n, note=None if n % 3 else "x", calls=CALLS) for n in range(5)]


def test_only_a_pure_sync_resolver_of_self_alone_takes_the_short_way() -> None:
    """Which resolvers the short way calls itself, and that the answers (nulls, enums from
    members and from values, `__typename`) are graphql-core's, with each resolver called once a
    row."""
    schema = strawberry.Schema(query=RowQuery, execution_context_class=LeafFieldsExecutionContext)
    row = schema._schema.type_map["Row"]
    assert isinstance(row, GraphQLObjectType)
    short = {name for name in row.fields if way(row, name) is not None}
    assert short == {"n", "note", "double", "level", "rawLevel"}
    document = (
        "{ rows { __typename n note double unmarked withInfo withArgument later level rawLevel } }"  # noqa: E501
    )
    CALLS.clear()
    ours = asyncio.run(schema.execute(document))
    assert ours.errors is None and CALLS == ["double", "unmarked"] * 5
    with _graphql_core_execution():
        theirs = asyncio.run(schema.execute(document))
    assert json.dumps(ours.data) == json.dumps(theirs.data)
    assert ours.data is not None and ours.data["rows"][1] == {
        "__typename": "Row", "n": 1, "note": None, "double": 2, "unmarked": 1,
        "withInfo": "withInfo", "withArgument": 1, "later": 1, "level": "HIGH", "rawLevel": "HIGH",
    }  # fmt: skip
