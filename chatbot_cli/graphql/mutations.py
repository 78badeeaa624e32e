"""Mutations. Each is one short transaction: it either happens completely or not at all."""

from __future__ import annotations

from typing import Any

import strawberry

from chatbot_cli.db import todos as db_todos
from chatbot_cli.errors import NotFound
from chatbot_cli.graphql.types import Todo, caller


def _found(record: db_todos.TodoRecord | None, todo_id: int) -> Todo:
    # Another owner's todo is reported exactly like a missing one: ids leak nothing.
    if record is None:
        raise NotFound(f"Todo {todo_id} not found.")
    return Todo.from_record(record)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Create a todo. The title is trimmed; 1-500 characters, one line."
    )
    async def create_todo(self, info: strawberry.Info[Any, Any], title: str) -> Todo:
        database, owner = caller(info)
        return Todo.from_record(await db_todos.create_todo(database, owner, title))

    @strawberry.mutation(description="Change the title and/or completion of a todo.")
    async def update_todo(
        self,
        info: strawberry.Info[Any, Any],
        id: int,
        title: str | None = None,
        completed: bool | None = None,
    ) -> Todo:
        database, owner = caller(info)
        record = await db_todos.update_todo(database, owner, id, title=title, completed=completed)
        return _found(record, id)

    @strawberry.mutation(description="Delete a todo; returns the todo as it was.")
    async def delete_todo(self, info: strawberry.Info[Any, Any], id: int) -> Todo:
        database, owner = caller(info)
        return _found(await db_todos.delete_todo(database, owner, id), id)

    @strawberry.mutation(description="Delete all your completed todos; returns how many.")
    async def clear_completed(self, info: strawberry.Info[Any, Any]) -> int:
        database, owner = caller(info)
        return await db_todos.clear_completed(database, owner)
