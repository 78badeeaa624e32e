"""A list of todos as `todos` returns it: the database's rows, made `Todo` objects only when
graphql-core needs them.

Why: for a page that selects stored columns only (the usual list), building a `TodoRecord` and a
`Todo` for every row and formatting each time with `datetime.isoformat` cost more than reading the
rows. When the short way can complete every selected field (`leaf_fields.Plan.whole`, no
resolver among them but urgency's), `LeafFieldsExecutionContext` asks the list for its rows
(`leaf_rows`), and each is completed straight from the stored row: on SQLite a time stays the
text SQLite holds, turned into `isoformat`'s shape (`todo_record.iso_of_text`); PostgreSQL's
datetimes are formatted a column at a time. Urgency, the one computed field, is a column scored
once per page by the resolver's own function. A value the short way would not pass through as
it is (an id out of Int's range, a title that is not text, an unknown priority...) or a field
this module does not know sends the list the usual way, so the response is the same bytes
either way (tests/graphql/test_todo_rows.py, test_execution_generated.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from math import isfinite
from typing import Any

from chatbot_cli.db.todo_record import in_order, iso_of_text, records
from chatbot_cli.graphql import types as todo_types
from chatbot_cli.graphql.leaf_fields import (
    BOOLEAN,
    FLOAT,
    INT,
    ISOFORMAT,
    MAX_INT,
    MIN_INT,
    STRING,
    LeafRows,
    Plan,
)
from chatbot_cli.graphql.raw_json import RawJSON
from chatbot_cli.graphql.types import PRIORITY_BY_LEVEL, Todo

# Per `Todo` attribute: its place in `_values`, and the coercion the GraphQL type must have for
# that value to be the completed one (priority: the enum's own, from the plan).
_PLACES: dict[str, tuple[int, Any]] = {
    "id": (0, INT),
    "title": (1, STRING),
    "completed": (2, BOOLEAN),
    "created_at": (3, ISOFORMAT),
    "updated_at": (4, ISOFORMAT),
    "due": (5, ISOFORMAT),
    "priority": (6, None),  # the level, completed by the plan's coercion
    "project": (7, STRING),
    "notes": (8, STRING),
    "tags": (9, STRING),
    "uid": (10, STRING),
}
_LISTS = {"tags"}
_PRIORITY = 6
# `urgency` is computed, not stored: its column is made only when a page selects it. `way` gives
# the field's resolver as its call; this is that function.
_URGENCY = 11
_URGENCY_CALL = Todo.__strawberry_definition__.get_field("urgency").base_resolver.wrapped_func  # type: ignore[attr-defined,union-attr]

# `json.dumps`'s own writing of a string (ASCII only, as Strawberry encodes a response).
_string: Callable[[str], str] = encode_basestring_ascii  # type: ignore[assignment]
# How `leaf_json` writes the value at each place (any other: text, or null where the type
# allows it; the priority: its level's name).
_WRITE: dict[int, Callable[[Any], str]] = {
    0: int.__repr__,
    1: _string,
    2: lambda done: "true" if done else "false",
    3: _string,
    4: _string,
    9: lambda words: "[" + ",".join(map(_string, words)) + "]",
    _URGENCY: float.__repr__,
}


def _nullable(text: str | None) -> str:
    return "null" if text is None else _string(text)


class TodoRows(LeafRows, Sequence[Todo]):
    """The rows of a todo page (`db.todos.list_todo_rows`, `todosConnection`'s page), a sequence
    of `Todo`.

    Every row is checked and converted here, in the resolver, as `records` and
    `Todo.from_record` would do it: a row they would fail on makes the todos at once, so the
    failure happens where and when it always did."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows
        self._todos: list[Todo] | None = None
        self._values = _columns(rows) if rows and in_order(rows) else None
        self._scores: Any = _UNSCORED
        if self._values is None:
            self._made()

    def _made(self) -> list[Todo]:
        if self._todos is None:
            self._todos = [Todo.from_record(r) for r in records(self._rows)]
        return self._todos

    def __iter__(self) -> Iterator[Todo]:
        return iter(self._made())

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: Any) -> Any:
        return self._made()[index]

    def leaf_rows(self, plan: Plan) -> list[dict[str, Any]] | None:
        found = self._places(plan)
        if found is None:
            return None
        places, names = found
        columns = self._values or []
        keys = [name for name, _ in places]
        if not keys:  # no field (all skipped): an empty object per todo
            return [{} for _ in self._rows]
        picked = [
            list(map(names.__getitem__, columns[p])) if p == _PRIORITY else self._column(p)
            for _, p in places
        ]
        return [dict(zip(keys, row, strict=True)) for row in zip(*picked, strict=True)]

    def leaf_json(self, plan: Plan) -> RawJSON | None:
        """`leaf_rows` written as the JSON `json.dumps` would write it (raw_json.py): column by
        column, each value written by its place's writer, then one %-format per row."""
        found = self._places(plan)
        if found is None or not found[0]:  # no field (all skipped): `leaf_rows`' empty objects
            return None
        places, names = found
        levels = {level: _string(name) for level, name in names.items()}
        columns = []
        for _, place in places:
            write = levels.__getitem__ if place == _PRIORITY else _WRITE.get(place, _nullable)
            columns.append(list(map(write, self._column(place))))
        row = ",".join(_string(name).replace("%", "%%") + ":%s" for name, _ in places)
        return RawJSON(
            "[" + ",".join(map(("{" + row + "}").__mod__, zip(*columns, strict=True))) + "]"
        )

    def _column(self, place: int) -> list[Any]:
        if place == _URGENCY:
            return self._urgency() or []
        return (self._values or [])[place]

    def _urgency(self) -> list[float] | None:
        """The page's urgency column (`_scores`), made once, and only for a page that selects
        it."""
        if self._scores is _UNSCORED:
            self._scores = _scores(self._rows) if self._values is not None else None
        return self._scores  # type: ignore[return-value]

    def _places(self, plan: Plan) -> tuple[list[tuple[str, int]], dict[int, Any]] | None:
        """Per selected field its response name and place in `_values`, and the priority's
        completed value per level; None when the page cannot be completed from its rows."""
        if self._values is None:
            return None
        places: list[tuple[str, int]] = []
        names: dict[int, Any] = {}
        for response_name, _, attr, call, coerce, many, _ in plan:
            if call is _URGENCY_CALL and coerce is FLOAT and not many:
                if self._urgency() is None:
                    return None
                places.append((response_name, _URGENCY))
                continue
            known = _PLACES.get(attr) if call is None and attr is not None else None
            if known is None or coerce is None:
                return None
            place, expected = known
            if place == _PRIORITY:
                expected = coerce
                names = {level: coerce(m) for level, m in enumerate(PRIORITY_BY_LEVEL)}
                if None in names.values():
                    return None
            if coerce is not expected or many is not (attr in _LISTS):
                return None
            places.append((response_name, place))
        return places, names


def _columns(rows: list[Any]) -> list[list[Any]] | None:
    """Every field of the page's todos as the short way completes it (the priority as its
    level), column by column, in `_PLACES` order; None when a row must take the usual way: a
    value the short way would coerce or refuse, or one that `records` or `Todo.from_record`
    would fail on. Checked a column at a time (the loops run in C: `map`, `set`, `min`)."""
    ids, titles, done, created, updated, _, due, level, project, notes, tags, uid = list(
        zip(*rows, strict=False)
    )[:12]
    if set(map(type, ids)) != {int} or min(ids) < MIN_INT or max(ids) > MAX_INT:
        return None
    if set(map(type, titles)) != {str} or set(map(type, level)) != {int}:
        return None
    if min(level) < 0 or max(level) >= len(PRIORITY_BY_LEVEL):
        return None
    # Text, or null where the type allows it.
    if not set(map(type, project + notes + uid)) <= _TEXT_OR_NULL:
        return None
    made, later, when = _times(created), _times(updated), _times(due, nullable=True)
    words = list(map(_words, tags))
    if None in made or None in later or _LOOSE in when or _LOOSE in words:
        return None
    return [
        list(ids), list(titles), list(map(bool, done)), made, later, when, list(level),
        list(project), list(notes), words, list(uid),
    ]  # fmt: skip


def _scores(rows: list[Any]) -> list[float] | None:
    """Each todo's urgency by the function `Todo.urgency` calls (looked up as it does, when
    called), from the records the usual way would make; None if one raises or is not a finite
    float: the usual way then calls the resolver itself, and reports the error at its path."""
    urgency_of = todo_types.urgency_of
    try:
        column = [urgency_of(r) for r in records(rows)]
    except Exception:
        return None
    return column if all(map(_finite_float, column)) else None


def _finite_float(value: Any) -> bool:
    return type(value) is float and isfinite(value)


_TEXT_OR_NULL = {str, type(None)}
# `TodoRows._scores` before the urgency column is asked for.
_UNSCORED: Any = object()
# A value that sends the page the usual way (compared by identity: `in` finds only itself).
_LOOSE: Any = object()


def _times(column: tuple[Any, ...], *, nullable: bool = False) -> list[Any]:
    """The ISO forms of a column of times, as `Todo`'s DateTime completes them (`isoformat`):
    SQLite's stored text (rewritten, `_iso`) or PostgreSQL's datetimes; a value that is neither
    (or a null where none is allowed) is None (_LOOSE for a nullable column)."""
    kinds = set(map(type, column))
    if nullable:
        kinds.discard(type(None))
    if kinds == {datetime}:
        return [None if t is None else t.isoformat() for t in column]
    if nullable:
        return list(map(_iso_or_null, column))
    return list(map(_iso, column))


def _iso_or_null(text: Any) -> Any:
    if text is None:
        return None
    iso = _iso(text)
    return _LOOSE if iso is None else iso


def _words(tags: Any) -> Any:
    if not tags:
        return []
    return tags.split() if type(tags) is str else _LOOSE


# Remembered per value: a page's times come back on every read of it, and turning one into its
# ISO form (checking it is a real time first) cost more than the rest of its row. `typed`, so a
# number stored where a time belongs is never mistaken for another type's entry.
@lru_cache(maxsize=1 << 14, typed=True)
def _iso(text: Any) -> str | None:
    if type(text) is not str:
        return None
    try:
        return iso_of_text(text)
    except Exception:  # the usual way reports it
        return None
