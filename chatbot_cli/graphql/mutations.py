"""Mutations. Each is one short transaction: it either happens completely or not at all, and
each change is journaled in that transaction so `undo` can revert it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types.unset import UNSET

from chatbot_cli.db import journal
from chatbot_cli.db import todos as db_todos
from chatbot_cli.errors import NotFound
from chatbot_cli.graphql.types import (
    ImportResult,
    Priority,
    Todo,
    TodoImportInput,
    UndoResult,
    caller,
)


def _found(record: db_todos.TodoRecord | None, todo_id: int) -> Todo:
    # Another owner's todo is reported exactly like a missing one: ids leak nothing.
    if record is None:
        raise NotFound(f"Todo {todo_id} not found.")
    return Todo.from_record(record)


def _fields(**given: Any) -> dict[str, Any]:
    """The optional fields given (null included: it clears), as the db layer takes them."""
    fields = {k: v for k, v in given.items() if v is not UNSET}
    if isinstance(fields.get("priority"), Priority):
        fields["priority"] = fields["priority"].value
    return fields


Due = Annotated[
    datetime | None,
    strawberry.argument(description="Due date-time (ISO 8601; without a zone: UTC)."),
]
PriorityArg = Annotated[Priority | None, strawberry.argument(description="Default NONE.")]
Tags = Annotated[
    list[str] | None,
    strawberry.argument(
        description="Tags: words; commas and spaces separate them, '+' is dropped, lower-cased."
    ),
]
Project = Annotated[str | None, strawberry.argument(description="One line, 100 characters.")]
Notes = Annotated[str | None, strawberry.argument(description="Markdown, 20,000 characters.")]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Create a todo. The title is trimmed; 1-500 characters, one line."
    )
    async def create_todo(
        self,
        info: strawberry.Info[Any, Any],
        title: str,
        due: Due = UNSET,
        priority: PriorityArg = UNSET,
        tags: Tags = UNSET,
        project: Project = UNSET,
        notes: Notes = UNSET,
    ) -> Todo:
        database, owner = caller(info)
        fields = None
        # Most creates give only a title: then no mapping of the absent fields is built and read
        # (a chained `is`: true when every one of the five is UNSET).
        if not (due is priority is tags is project is notes is UNSET):
            fields = _fields(due=due, priority=priority, tags=tags, project=project, notes=notes)
        return Todo.from_record(await db_todos.create_todo(database, owner, title, fields))

    @strawberry.mutation(
        description="Change a todo: only the arguments given change; null clears a field."
    )
    async def update_todo(
        self,
        info: strawberry.Info[Any, Any],
        id: int,
        title: str | None = None,
        completed: bool | None = None,
        due: Due = UNSET,
        priority: PriorityArg = UNSET,
        tags: Tags = UNSET,
        project: Project = UNSET,
        notes: Notes = UNSET,
    ) -> Todo:
        database, owner = caller(info)
        fields = _fields(due=due, priority=priority, tags=tags, project=project, notes=notes)
        record = await db_todos.update_todo(
            database, owner, id, title=title, completed=completed, fields=fields
        )
        return _found(record, id)

    @strawberry.mutation(description="Delete a todo; returns the todo as it was.")
    async def delete_todo(self, info: strawberry.Info[Any, Any], id: int) -> Todo:
        database, owner = caller(info)
        return _found(await db_todos.delete_todo(database, owner, id), id)

    @strawberry.mutation(description="Delete all your completed todos; returns how many.")
    async def clear_completed(self, info: strawberry.Info[Any, Any]) -> int:
        database, owner = caller(info)
        return await db_todos.clear_completed(database, owner)

    @strawberry.mutation(
        description=f"Revert your last change (add, edit, done, reopen, rm, clear, import); "
        f"call again to go further back, up to {journal.UNDO_DEPTH} changes. NOT_FOUND when "
        "nothing is left to undo."
    )
    async def undo(self, info: strawberry.Info[Any, Any]) -> UndoResult:
        database, owner = caller(info)
        result = await journal.undo_last(database, owner)
        return UndoResult(
            action=result.action,
            restored=[Todo.from_record(r) for r in result.restored],
            removed=result.removed,
        )

    @strawberry.mutation(
        description=f"Create every item or none (at most {db_todos.MAX_IMPORT_ITEMS}): a bad "
        "item refuses the import with extensions.item, its 0-based index. Items already there "
        "(same uid, or exported from here) are skipped."
    )
    async def import_todos(
        self, info: strawberry.Info[Any, Any], items: list[TodoImportInput]
    ) -> ImportResult:
        database, owner = caller(info)
        plain = []
        for item in items:
            values = {k: v for k, v in vars(item).items() if v is not None}
            values["priority"] = item.priority.value if item.priority else None
            plain.append(values)
        result = await db_todos.import_todos(database, owner, plain)
        return ImportResult(created=[t.id for t in result.created], skipped=result.skipped)
