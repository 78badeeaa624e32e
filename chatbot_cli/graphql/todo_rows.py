"""A list of todos as `todos` returns it: the database's rows, made `Todo` objects only when
graphql-core needs them.

Why: for a page that selects stored columns only (the usual list), building a `TodoRecord` and a
`Todo` for every row and formatting each time with `datetime.isoformat` cost more than reading the
rows. When the short way can complete every selected field (`leaf_fields.Plan.whole`, no
resolver among them), `LeafFieldsExecutionContext` asks the list for its rows (`leaf_rows`), and
on SQLite each is completed straight from the stored row: a time stays the text SQLite holds,
turned into `isoformat`'s shape (`todo_record.iso_of_text`). A value the short way would not pass
through as it is (an id out of Int's range, a title that is not text, an unknown priority...) or
a field this module does not know sends the list the usual way, so the response is the same
bytes either way (tests/graphql/test_todo_rows.py, test_execution_generated.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import Any

from chatbot_cli.db.todo_record import iso_of_text, records, text_page
from chatbot_cli.graphql.leaf_fields import (
    BOOLEAN,
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
}


def _nullable(text: str | None) -> str:
    return "null" if text is None else _string(text)


class TodoRows(LeafRows, Sequence[Todo]):
    """The rows of a todo page (`db.todos.list_todo_rows`), a sequence of `Todo`.

    Every row is checked and converted here, in the resolver, as `records` and
    `Todo.from_record` would do it: a row they would fail on makes the todos at once, so the
    failure happens where and when it always did."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows
        self._todos: list[Todo] | None = None
        self._values: list[list[Any]] | None = None
        if text_page(rows):
            values = []
            for row in rows:
                converted = _values(row)
                if converted is None:
                    break
                values.append(converted)
            else:
                self._values = values
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
        page = [{name: values[place] for name, place in places} for values in self._values or ()]
        priorities = [name for name, place in places if place == _PRIORITY]
        for row in page if priorities else ():
            for name in priorities:
                row[name] = names[row[name]]
        return page

    def leaf_json(self, plan: Plan) -> RawJSON | None:
        """`leaf_rows` written as the JSON `json.dumps` would write it (raw_json.py): column by
        column, each value written by its place's writer, then one %-format per row."""
        found = self._places(plan)
        if found is None or not found[0]:  # no field (all skipped): `leaf_rows`' empty objects
            return None
        places, names = found
        rows = self._values or []
        levels = {level: _string(name) for level, name in names.items()}
        columns = []
        for _, place in places:
            write = levels.__getitem__ if place == _PRIORITY else _WRITE.get(place, _nullable)
            columns.append(list(map(write, map(itemgetter(place), rows))))
        row = ",".join(_string(name).replace("%", "%%") + ":%s" for name, _ in places)
        return RawJSON(
            "[" + ",".join(map(("{" + row + "}").__mod__, zip(*columns, strict=True))) + "]"
        )

    def _places(self, plan: Plan) -> tuple[list[tuple[str, int]], dict[int, Any]] | None:
        """Per selected field its response name and place in `_values`, and the priority's
        completed value per level; None when the page cannot be completed from its rows."""
        if self._values is None:
            return None
        places: list[tuple[str, int]] = []
        names: dict[int, Any] = {}
        for response_name, _, attr, call, coerce, many, _ in plan:
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


def _values(row: Any) -> list[Any] | None:
    """Every field of a todo as the short way completes it (the priority as its level), from
    its row; None when the row must take the usual way: a value the short way would coerce or
    refuse, or one that `records` or `Todo.from_record` would fail on."""
    todo_id, title, done, created, updated, _, due, level, project, notes, tags, uid = row[:12]
    if type(todo_id) is not int or not MIN_INT <= todo_id <= MAX_INT or type(title) is not str:
        return None
    # Text, or null where the type allows it.
    for value in (project, notes, uid):
        if value is not None and type(value) is not str:
            return None
    made = _iso(created)
    later = made if updated == created else _iso(updated)
    when = None if due is None else _iso(due)
    if made is None or later is None or (when is None and due is not None):
        return None
    if type(level) is not int or not 0 <= level < len(PRIORITY_BY_LEVEL):
        return None
    if not tags:
        words = []
    elif type(tags) is str:
        words = tags.split()
    else:
        return None
    return [todo_id, title, bool(done), made, later, when, level, project, notes, words, uid]


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
