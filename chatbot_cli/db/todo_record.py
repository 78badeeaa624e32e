"""A todo as read from the database, and the rules a value must meet to be stored.

Validation lives here, beside the record, so that GraphQL, import and undo all store exactly what
the same rules allow.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import String, type_coerce

from chatbot_cli.db.models import UTCDateTime, todos
from chatbot_cli.errors import InvalidRequest

MAX_TITLE_CHARS = 500
MAX_SEARCH_CHARS = 500
MAX_PROJECT_CHARS = 100
MAX_NOTES_CHARS = 20_000
MAX_TAG_CHARS = 64
MAX_TAGS = 20
MAX_UID_CHARS = 64

# Stored as 0-3 so that ordering by priority is an integer order.
PRIORITIES = ("none", "low", "medium", "high")

COLUMNS = (
    todos.c.id,
    todos.c.title,
    todos.c.completed,
    todos.c.created_at,
    todos.c.updated_at,
    todos.c.owner,
    todos.c.due,
    todos.c.priority,
    todos.c.project,
    todos.c.notes,
    todos.c.tags,
    todos.c.uid,
)


class TodoRecord(NamedTuple):
    """Immutable. A named tuple, not a frozen dataclass: a page reads a thousand of them, and a
    frozen dataclass sets each of its twelve fields through `object.__setattr__`, which cost
    more than converting the row."""

    id: int
    title: str
    completed: bool
    created_at: datetime
    updated_at: datetime
    owner: str
    due: datetime | None = None
    priority: int = 0
    project: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] = ()
    uid: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "completed": self.completed,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "due": self.due.isoformat() if self.due else None,
            "priority": PRIORITIES[self.priority],
            "project": self.project,
            "notes": self.notes,
            "tags": list(self.tags),
            "uid": self.uid,
        }


_NAMES = tuple(c.name for c in COLUMNS)

# COLUMNS with the times read as SQLite stores them (text): SQLAlchemy's result processing of a
# thousand rows' times (its string parser, then UTCDateTime's, per value) cost more than reading
# the rows; `records` converts them as UTCDateTime does instead. Same SQL.
TEXT_COLUMNS = tuple(
    type_coerce(c, String).label(c.name) if isinstance(c.type, UTCDateTime) else c for c in COLUMNS
)


class TextRows(list[Any]):
    """Plain rows (tuples) whose columns are TEXT_COLUMNS in order, as SQLite's driver returns
    them (`driver_page`): they have no names to check the order by."""


def in_order(rows: list[Any]) -> bool:
    """Whether the (non-empty) `rows` start with COLUMNS or TEXT_COLUMNS in order, so they can be
    read by position."""
    return isinstance(rows, TextRows) or rows[0]._fields[: len(_NAMES)] == _NAMES


def records(rows: list[Any]) -> list[TodoRecord]:
    """`record` of every row, reading rows whose first columns are COLUMNS (or TEXT_COLUMNS) by
    position: a page of a thousand todos would otherwise look every column up by name (the
    figure is in the commit that added this)."""
    if not rows or not in_order(rows):
        return [record(r) for r in rows]
    new = TodoRecord
    if type(rows[0][3]) is str:
        return _records_of_text(rows)
    return [
        new(i, title, bool(done), created, updated, owner, due, int(prio), proj, notes,
            tuple(tags.split()) if tags else (), uid)
        for i, title, done, created, updated, owner, due, prio, proj, notes, tags, uid, *_ in rows
    ]  # fmt: skip


def utc_of_text(text: str) -> datetime:
    """UTCDateTime's conversion of a time SQLite stores as text. SQLAlchemy writes naive UTC as
    `YYYY-MM-DD HH:MM:SS.ffffff`: for that shape, parsing it with the UTC offset appended gives
    the same datetime, `UTC` object included, without `replace`'s keyword call (several times
    the parse). A time that has an offset of its own cannot take a second one and fails to
    parse; it and any other text take UTCDateTime's own conversion."""
    try:
        if len(text) == 26 and text[19] == "." and text[10] == " ":
            return _parse(text + "+00:00")
    except (TypeError, ValueError):
        pass
    return _from_text(text, None)


def iso_of_text(text: str) -> str:
    """`utc_of_text(text).isoformat()`, without formatting a datetime for the shape SQLAlchemy
    writes: once `fromisoformat` took the text (so it is a real time, every field its digits),
    its ISO form is the text with a `T`, without a zero fraction, and with `+00:00`, as
    `isoformat` writes it. Hour 24 is left to the general way: newer Pythons read it as the
    next day."""
    if len(text) == 26 and text[19] == "." and text[10] == " " and text[11:13] != "24":
        try:
            _parse(text + "+00:00")
        except ValueError:
            pass
        else:
            if text[20:] == "000000":
                return text[:10] + "T" + text[11:19] + "+00:00"
            return text[:10] + "T" + text[11:] + "+00:00"
    return utc_of_text(text).isoformat()


_parse = datetime.fromisoformat
# Its result conversion takes text (SQLite's) and never reads the dialect.
_from_text = cast(Callable[[str, Any], datetime], UTCDateTime().process_result_value)


def _records_of_text(rows: list[Any]) -> list[TodoRecord]:
    """`records` of SQLite rows whose times are text. A todo never edited, whose two times are
    the same text, gets the same (immutable) datetime twice, converted once."""
    new, utc = TodoRecord, utc_of_text
    page: list[TodoRecord] = []
    append = page.append
    for i, title, done, created, updated, owner, due, prio, proj, notes, tags, uid, *_ in rows:
        made = utc(created)
        append(
            new(i, title, bool(done), made, made if updated == created else utc(updated), owner,
                None if due is None else utc(due), int(prio), proj, notes,
                tuple(tags.split()) if tags else (), uid)
        )  # fmt: skip
    return page


def record(row: Any) -> TodoRecord:
    return TodoRecord(
        id=row.id,
        title=row.title,
        completed=bool(row.completed),
        created_at=row.created_at,
        updated_at=row.updated_at,
        owner=row.owner,
        due=row.due,
        priority=int(row.priority),
        project=row.project,
        notes=row.notes,
        tags=tuple(row.tags.split()) if row.tags else (),
        uid=row.uid,
    )


# One regex pass instead of a Python loop over the characters. Unicode's Cc category is exactly
# these: C0 controls, DEL and C1 controls (tests/db/test_todos.py checks it against unicodedata).
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Notes are Markdown: newlines and tabs are theirs, every other control character is refused.
_NOTES_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TAG_SEPARATORS = re.compile(r"[\s,]+")


def check_text(value: str, param: str) -> None:
    """Reject what no database stores faithfully: NUL and lone UTF-16 surrogates."""
    if "\x00" in value:
        raise InvalidRequest(f"'{param}' must not contain NUL characters.", param=param)
    if _SURROGATE.search(value):
        raise InvalidRequest(
            f"'{param}' contains an invalid Unicode surrogate character.", param=param
        )


def _one_line(value: str, param: str, limit: int) -> str:
    check_text(value, param)
    value = value.strip()
    if len(value) > limit:
        raise InvalidRequest(
            f"'{param}' is {len(value)} characters long; the limit is {limit}.", param=param
        )
    if _CONTROL.search(value):
        raise InvalidRequest(
            f"'{param}' must be a single line without control characters.", param=param
        )
    return value


def clean_title(title: str) -> str:
    """The title as stored: trimmed, non-empty, one line, at most MAX_TITLE_CHARS characters."""
    check_text(title, "title")
    title = title.strip()
    if not title:
        raise InvalidRequest("Title must not be empty.", param="title")
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidRequest(
            f"Title is {len(title)} characters long; the limit is {MAX_TITLE_CHARS}.",
            param="title",
        )
    if _CONTROL.search(title):
        raise InvalidRequest(
            "Title must be a single line without control characters.", param="title"
        )
    return title


def clean_project(project: str | None) -> str | None:
    """Trimmed, one line; empty means no project."""
    if project is None:
        return None
    return _one_line(project, "project", MAX_PROJECT_CHARS) or None


def clean_notes(notes: str | None) -> str | None:
    """Markdown, kept as written (newlines and tabs allowed); empty means no notes."""
    if notes is None:
        return None
    check_text(notes, "notes")
    if len(notes) > MAX_NOTES_CHARS:
        raise InvalidRequest(
            f"'notes' is {len(notes)} characters long; the limit is {MAX_NOTES_CHARS}.",
            param="notes",
        )
    if _NOTES_CONTROL.search(notes):
        raise InvalidRequest(
            "'notes' must not contain control characters other than newline and tab.",
            param="notes",
        )
    return notes if notes.strip() else None


def clean_tags(tags: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Tags are single lower-case words: commas and whitespace inside a value separate tags
    ("home, Family" is two tags, home and family), a leading '+' is dropped, duplicates go.
    Sorted, so the stored form is the same however they were given."""
    found: set[str] = set()
    for value in tags or ():
        check_text(value, "tags")
        for word in _TAG_SEPARATORS.split(value):
            word = word.lstrip("+").lower()
            if not word:
                continue
            if len(word) > MAX_TAG_CHARS:
                raise InvalidRequest(
                    f"Tag '{word[:20]}…' is longer than {MAX_TAG_CHARS} characters.", param="tags"
                )
            if _CONTROL.search(word):
                raise InvalidRequest("Tags must not contain control characters.", param="tags")
            found.add(word)
    if len(found) > MAX_TAGS:
        raise InvalidRequest(f"At most {MAX_TAGS} tags a todo.", param="tags")
    return tuple(sorted(found))


def clean_priority(priority: int | str | None) -> int:
    """0-3, or one of PRIORITIES by name (any case; H/M/L as Taskwarrior writes them)."""
    if priority is None:
        return 0
    if isinstance(priority, int) and not isinstance(priority, bool) and 0 <= priority <= 3:
        return priority
    if isinstance(priority, str):
        name = priority.strip().lower()
        short = {"h": "high", "m": "medium", "l": "low", "": "none"}
        name = short.get(name, name)
        if name in PRIORITIES:
            return PRIORITIES.index(name)
    raise InvalidRequest(
        f"Unknown priority {priority!r}: use one of {', '.join(PRIORITIES)}.", param="priority"
    )


def clean_due(due: datetime | None) -> datetime | None:
    """An aware UTC datetime; a value without a zone is taken as UTC."""
    if due is None:
        return None
    return due.replace(tzinfo=UTC) if due.tzinfo is None else due.astimezone(UTC)


def clean_uid(uid: str | None) -> str | None:
    if uid is None:
        return None
    return _one_line(uid, "uid", MAX_UID_CHARS) or None
