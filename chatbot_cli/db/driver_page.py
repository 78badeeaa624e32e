"""A page of todos read on SQLite's driver cursor, with its SQL compiled once per shape.

Why: for a 1,000-row page, building the statement on every request, SQLAlchemy's cache-key
walk and execution context, and a `Row` per row cost nearly as much as SQLite reading the page
(figures in the commit that added this). The common pages (no filter but `completed`, a stored
sort order) have few shapes: each is built once by the same functions as the general way
(`db.todo_query`), with named binds where the request's values go, compiled by SQLAlchemy, and
then run on the driver's cursor with the values bound through each bind's own processor, as
SQLAlchemy would. The rows come back as plain tuples in `TEXT_COLUMNS` order (`TextRows`),
which `todo_record.records` and `in_order` read as they read SQLAlchemy's rows.

Anything else (another filter, the urgency order, another dialect or driver) takes the general
way. Like `driver_insert`, this relies on how SQLAlchemy compiles and binds: pinned below its next
major, and tests/db/test_driver_page.py compares both ways' rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Connection, Dialect, Integer, Select, String, bindparam
from sqlalchemy.types import TypeEngine

from chatbot_cli.db.todo_record import TextRows

# The binds a page's statement is built with, by name.
OWNER, COMPLETED, LIMIT, OFFSET = "owner", "completed", "limit", "offset"
_TYPES: dict[str, TypeEngine[Any]] = {
    OWNER: String(),
    COMPLETED: Boolean(),
    LIMIT: Integer(),
    OFFSET: Integer(),
}


@dataclass(frozen=True, slots=True)
class PageSQL:
    """One page shape's SQL, and per positional bind its name and processor."""

    sql: str
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    def params(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            values[name] if process is None else process(values[name])
            for name, process in self.binds
        )


Build = Callable[[dict[str, Any]], Select[Any]]
# Per (dialect, shape): the compiled page, or None when the statement has a bind this module
# does not fill (it then takes the general way).
_PAGES: dict[tuple[int, Any], tuple[Dialect, PageSQL | None]] = {}


def bind(name: str) -> Any:
    """The named bind a page's statement takes `name`'s value through."""
    return bindparam(name, type_=_TYPES[name])


def page_sql(dialect: Dialect, shape: Any, build: Build) -> PageSQL | None:
    """The page of `shape` (any hashable description of it), built once by `build(binds)`."""
    key = (id(dialect), shape)
    found = _PAGES.get(key)
    if found is not None and found[0] is dialect:
        return found[1]
    stmt = build({name: bind(name) for name in _TYPES})
    compiled = stmt.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    page: PageSQL | None = None
    if names and all(name in _TYPES for name in names):
        binds = []
        for name in names:
            type_ = compiled.binds[name].type
            binds.append((name, type_.dialect_impl(dialect).bind_processor(dialect)))
        page = PageSQL(str(compiled), tuple(binds))
    _PAGES[key] = (dialect, page)
    return page


def read_page(
    conn: Connection, shape: Any, build: Build, values: dict[str, Any]
) -> TextRows | None:
    """The page's rows read on the driver's cursor, or None when this connection or shape must
    take the general way."""
    driver = conn.connection.driver_connection
    if conn.dialect.driver != "pysqlite" or not isinstance(driver, sqlite3.Connection):
        return None
    page = page_sql(conn.dialect, shape, build)
    if page is None:
        return None
    return TextRows(driver.execute(page.sql, page.params(values)).fetchall())
