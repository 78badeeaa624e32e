"""Read-only fields."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from chatbot_cli.db import todos as db_todos
from chatbot_cli.errors import NotFound
from chatbot_cli.graphql.types import Todo, caller


@strawberry.type
class Query:
    @strawberry.field(description="Your todos, newest first.")
    async def todos(
        self,
        info: strawberry.Info[Any, Any],
        completed: Annotated[
            bool | None,
            strawberry.argument(description="Only completed (true) or pending (false) todos."),
        ] = None,
        search: Annotated[
            str | None, strawberry.argument(description="Case-insensitive substring of the title.")
        ] = None,
        limit: Annotated[
            int | None, strawberry.argument(description="At most this many (default: all).")
        ] = None,
        offset: Annotated[int, strawberry.argument(description="Skip this many first.")] = 0,
    ) -> list[Todo]:
        database, owner = caller(info)
        records = await db_todos.list_todos(
            database, owner, completed=completed, search=search, limit=limit, offset=offset
        )
        return [Todo.from_record(r) for r in records]

    @strawberry.field(description="One of your todos by id; NOT_FOUND if you have none with it.")
    async def todo(self, info: strawberry.Info[Any, Any], id: int) -> Todo:
        database, owner = caller(info)
        record = await db_todos.get_todo(database, owner, id)
        if record is None:
            raise NotFound(f"Todo {id} not found.")
        return Todo.from_record(record)
