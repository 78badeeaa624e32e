"""The short way's reading of one field and of one row: which fields qualify (`way`), and the
completed value of a field (`short_value`) or of every field of a row (`short_row`) exactly as
graphql-core would complete it, or `SLOW` when only graphql-core may (`execution.py` then sends
the field or the row there).

Reads Strawberry's field definition (`metadata`, `base_resolver` with `is_async`,
`self_parameter`, `signature` and `wrapped_func`, the `_is_default` mark) and an enum type's
`wrapped_cls`, which are not documented API: pinned in pyproject.toml, guarded by
tests/graphql/test_strawberry_internals.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from math import isfinite
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
)
from strawberry.schema.types.base_scalars import DateTimeDefinition

STRING = GraphQLString.coerce_output_value
BOOLEAN = GraphQLBoolean.coerce_output_value
INT = GraphQLInt.coerce_output_value
FLOAT = GraphQLFloat.coerce_output_value
# Strawberry's DateTime output coercion: `isoformat()`, which never answers None for a datetime.
ISOFORMAT = DateTimeDefinition.serialize

# Field metadata (`strawberry.field(metadata={PURE: True})`) of a resolver without side effects.
PURE = "chatbot.pure"

Coerce = Callable[[Any], Any]
# The field's way: the attribute to read or the resolver to call with the source, the coercion,
# whether a list, whether the type allows null.
Way = tuple[str | None, Callable[[Any], Any] | None, Coerce, bool, bool]
Step = tuple[str, Any, str | None, Callable[[Any], Any] | None, Coerce | None, bool, bool]


class Plan(list[Step]):
    """Per field of a grouped field set: the response key, its field details, and its way
    (coercion None when it goes through graphql-core). `whole`: every field takes the short
    way."""

    whole = False


class LeafRows:
    """A list a resolver returns that may complete its items itself: given the plan of its
    items (`whole`), `leaf_rows` answers every item's completed fields exactly as `short_row`
    would from the items, or None, and the list is then iterated as any other."""

    def leaf_rows(self, plan: Plan) -> list[dict[str, Any]] | None:
        raise NotImplementedError

    def leaf_json(self, plan: Plan) -> Any:
        """`leaf_rows` as one `raw_json.RawJSON`, or None: asked first on the HTTP path."""
        return None


def _coercion(type_: GraphQLScalarType | GraphQLEnumType) -> Coerce:
    """The type's output coercion; for a Strawberry enum, a lookup of the member's name, which
    the enum's own coercion finds by scanning every value."""
    coerce = type_.coerce_output_value
    members = getattr(type_, "wrapped_cls", None)
    if not isinstance(type_, GraphQLEnumType) or not isinstance(members, type(Enum)):
        return coerce
    # Keyed by the member's name: a str hashes in C, an enum member through Enum.__hash__.
    names = {member._name_: coerce(member) for member in members}

    def name_of(value: Any) -> Any:
        return names[value._name_] if type(value) is members else coerce(value)

    return name_of


def _leaf(type_: Any) -> tuple[Coerce | None, bool, bool]:
    """The output coercion of a scalar or enum type, whether the type is a list of them and
    whether it allows null; (None, False, False) for any other type."""
    nullable = not isinstance(type_, GraphQLNonNull)
    if not nullable:
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        item = type_.of_type
        # Items must be non-null: a null item takes graphql-core's path, which knows the rule.
        if isinstance(item, GraphQLNonNull) and isinstance(
            item.of_type, (GraphQLScalarType, GraphQLEnumType)
        ):
            return _coercion(item.of_type), True, nullable
        return None, False, False
    if isinstance(type_, (GraphQLScalarType, GraphQLEnumType)):
        return _coercion(type_), False, nullable
    return None, False, False


def _type_name(name: str) -> Callable[[Any], str]:
    return lambda _source: name


def way(parent_type: GraphQLObjectType, name: str) -> Way | None:
    """How field `name` of `parent_type` is read the short way, or None when only graphql-core
    may complete it."""
    if name == "__typename":
        return None, _type_name(parent_type.name), STRING, False, False
    field_def = parent_type.fields.get(name)
    definition = field_def.extensions.get("strawberry-definition") if field_def else None
    if field_def is None or definition is None or field_def.args or definition.extensions:
        return None
    call = None
    resolver = definition.base_resolver
    if resolver is not None:
        # Only `self`: no info, root or argument to build, and the result depends on the row.
        if (
            not definition.metadata.get(PURE)
            or resolver.is_async
            or resolver.self_parameter is None
            or len(resolver.signature.parameters) != 1
        ):
            return None
        call = resolver.wrapped_func
    elif (
        not getattr(field_def.resolve, "_is_default", False)
        or not definition.is_basic_field
        or definition.default_resolver is not getattr
    ):
        return None
    coerce, many, nullable = _leaf(field_def.type)
    if coerce is None:
        return None
    return (definition.python_name if call is None else None), call, coerce, many, nullable


SLOW = object()
MIN_INT, MAX_INT = -(2**31), 2**31 - 1


def read(source: Any, attr: str | None, call: Callable[[Any], Any] | None) -> Any:
    """The field's raw value: the attribute, or what the resolver returns; SLOW if there is no
    such attribute or the resolver raises (graphql-core tries again and reports the error)."""
    if call is None:
        return getattr(source, attr, SLOW)  # type: ignore[arg-type]
    try:
        return call(source)
    except Exception:
        return SLOW


def short_value(value: Any, coerce: Coerce, many: bool, nullable: bool) -> Any:
    """The field's completed value, or SLOW when graphql-core must complete it (a null the
    type forbids, an error, a value that does not coerce)."""
    kind = type(value)
    # What graphql-core's String, Boolean and Int coercions return unchanged, without the call.
    if kind is str:
        if coerce is STRING:
            return value
    elif kind is bool:
        if coerce is BOOLEAN:
            return value
    elif kind is int:
        if coerce is INT and MIN_INT <= value <= MAX_INT:
            return value
    elif value is None:
        return None if nullable else SLOW
    elif value is SLOW or isinstance(value, Exception):
        return SLOW
    try:
        if many:
            if not isinstance(value, (list, tuple)):
                return SLOW
            if coerce is STRING:
                for item in value:
                    if type(item) is not str:
                        break
                else:
                    return list(value)
            items = [coerce(v) for v in value]
            if None in items or Undefined in items:
                return SLOW
            return items
        coerced = coerce(value)
    except Exception:  # graphql-core reports it, on its own path
        return SLOW
    if coerced is None or coerced is Undefined:
        return SLOW
    return coerced


def short_row(plan: Plan, source: Any) -> dict[str, Any] | None:
    """Every field of `source` the short way, or None if one of them needs graphql-core. The
    common cases of `short_value` are written out here: this runs for every row of a page."""
    row: dict[str, Any] = {}
    # A todo never edited holds one datetime object as both its times: formatted once.
    last: Any = None
    text = ""
    for response_name, _, attr, call, coerce, many, nullable in plan:
        value: Any = getattr(source, attr, SLOW) if call is None else read(source, None, call)  # type: ignore[arg-type]
        kind = type(value)
        if (
            (kind is str and coerce is STRING)
            or (kind is bool and coerce is BOOLEAN)
            or (kind is int and coerce is INT and MIN_INT <= value <= MAX_INT)
        ):
            row[response_name] = value
            continue
        if kind is datetime and coerce is ISOFORMAT:
            if value is not last:
                last, text = value, value.isoformat()
            row[response_name] = text
            continue
        if kind is float and coerce is FLOAT and isfinite(value):
            row[response_name] = value
            continue
        if value is None and nullable:
            row[response_name] = None
            continue
        value = short_value(value, coerce, many, nullable)  # type: ignore[arg-type]
        if value is SLOW:
            return None
        row[response_name] = value
    return row
