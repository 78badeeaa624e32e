"""SQLAlchemy's compiled insert, run on SQLite's driver cursor.

On SQLite's single writer, SQLAlchemy's per-execution work (execution context, parameter
processing, result set) was a large share of a create's cost: db/todos.py runs the title-only
create and its journal row through `driver_insert` instead. The SQL and the stored values are
SQLAlchemy's own: relying on how it compiles and binds is why SQLAlchemy is pinned below its next
major, and tests/db/test_driver_insert.py fails if that changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Dialect, Table, insert
from sqlalchemy.types import TypeEngine

from chatbot_cli.db.models import UTCDateTime


@dataclass(frozen=True, slots=True)
class DriverInsert:
    """An insert compiled once for one dialect and table, with its columns' own bind processors
    (`_processor`)."""

    sql: str
    keys: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    # The values in `keys` order, read in one call; then the positions that have a processor.
    _read: Callable[[dict[str, Any]], Any] = field(init=False)
    _processed: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False)

    def __post_init__(self) -> None:
        read = itemgetter(*self.keys)
        # itemgetter of one key answers the value itself, not a one-value tuple.
        object.__setattr__(self, "_read", read if len(self.keys) > 1 else lambda v: (read(v),))
        processed = tuple((i, p) for i, p in enumerate(self.processors) if p is not None)
        object.__setattr__(self, "_processed", processed)

    def params(self, values: dict[str, Any]) -> tuple[Any, ...]:
        bound = self._read(values)
        if not self._processed:
            return tuple(bound)
        bound = list(bound)
        for i, process in self._processed:
            bound[i] = process(bound[i])
        return tuple(bound)


_driver_inserts: WeakKeyDictionary[Dialect, dict[str, DriverInsert]] = WeakKeyDictionary()
# The dialect looked up last and its inserts: a server has one, and a weak mapping's lookup (a
# weak reference built per call) cost more than the rest of finding the statement.
_last_dialect: list[tuple[Dialect | None, dict[str, DriverInsert]]] = [(None, {})]


def driver_insert(dialect: Dialect, table: Table, value_keys: tuple[str, ...]) -> DriverInsert:
    seen, per_table = _last_dialect[0]
    if seen is not dialect:
        per_table = _driver_inserts.setdefault(dialect, {})
        _last_dialect[0] = (dialect, per_table)
    found = per_table.get(table.name)
    if found is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(value_keys))
        keys = tuple(compiled.positiontup or ())
        found = DriverInsert(
            str(compiled), keys, tuple(_processor(table.c[k].type, dialect) for k in keys)
        )
        per_table[table.name] = found
    return found


def _processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    # The dialect's own implementation (SQLite's DATETIME writes microseconds even when zero),
    # under our TypeDecorator's conversion: what SQLAlchemy runs for a Core insert.
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    if isinstance(type_, UTCDateTime) and process is not None:
        return _sqlite_stamp(process)
    return process


# Instants SQLAlchemy's processor must store exactly as `_sqlite_stamp` does: naive and aware,
# whole seconds and not, another zone, a small year.
_STAMP_CHECKS = (
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    datetime(2026, 6, 1, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(999, 1, 1, 0, 0, 0, 7),
)


# The last instant `_sqlite_stamp` stored and its text, shared by every time column, as one
# tuple (swapped whole, so a thread never reads one instant's text with another's instant): a
# create binds the same instant three times, in two statements.
_LAST_STAMP: list[tuple[Any, str]] = [(object(), "")]


def _sqlite_stamp(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """UTCDateTime's bind processing on SQLite (to UTC, zone dropped, DATETIME's text with six
    fraction digits) as one `isoformat`: SQLAlchemy's chain (two `datetime.replace` calls and a
    %-format of a seven-key dict) was the largest part of binding a create's values. Taken only
    when it gives SQLAlchemy's own text for every `_STAMP_CHECKS` instant; anything but a
    datetime goes to SQLAlchemy's processor."""

    last = _LAST_STAMP

    def stamp(value: Any) -> Any:
        seen, text = last[0]
        if value is seen:
            return text
        if type(value) is not datetime:
            return process(value)
        utc = value if value.tzinfo is None or value.tzinfo is UTC else value.astimezone(UTC)
        # 26 characters: four-digit year to microseconds, without the "+00:00" of UTC.
        text = utc.isoformat(" ", "microseconds")[:26]
        last[0] = (value, text)
        return text

    if all(stamp(when) == process(when) for when in _STAMP_CHECKS):
        return stamp
    return process
