"""Read-only fields.

Every list is bounded (issue 22): a field returns DEFAULT_PAGE rows unless asked for fewer or
more, never more than MAX_PAGE, and `schema.RowBudget` refuses a document whose list fields could
produce more than MAX_ROWS rows together. A longer list is read page by page (`todosConnection`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types.nodes import SelectedField

from chatbot_cli.db import todos as db_todos
from chatbot_cli.db.todo_query import TodoFilter, page_todos
from chatbot_cli.errors import InvalidRequest, NotFound
from chatbot_cli.graphql.todo_rows import TodoRows
from chatbot_cli.graphql.types import PageInfo, Priority, Todo, TodoConnection, TodoSort, caller
from chatbot_cli.graphql.usage import UsageRow, resolve_usage

DEFAULT_PAGE = 100
MAX_PAGE = 1000
MAX_ROWS = 2000
LIST_FIELDS = {"todos": "limit", "todosConnection": "first"}


def page_size(value: int | None, param: str) -> int:
    if value is None:
        return DEFAULT_PAGE
    if value < 0:
        raise InvalidRequest(f"'{param}' must be zero or more.", param=param)
    if value > MAX_PAGE:
        raise InvalidRequest(
            f"'{param}' is at most {MAX_PAGE}; read longer lists page by page "
            "(todosConnection with first/after).",
            param=param,
        )
    return value


Completed = Annotated[
    bool | None, strawberry.argument(description="Only completed (true) or pending (false).")
]
Search = Annotated[
    str | None, strawberry.argument(description="Case-insensitive substring of the title.")
]
Tag = Annotated[str | None, strawberry.argument(description="Only todos with this tag.")]
Project = Annotated[str | None, strawberry.argument(description="Only todos in this project.")]
PriorityArg = Annotated[Priority | None, strawberry.argument(description="Only this priority.")]
DueBefore = Annotated[datetime | None, strawberry.argument(description="Due before this time.")]
DueAfter = Annotated[datetime | None, strawberry.argument(description="Due after this time.")]
Overdue = Annotated[
    bool | None,
    strawberry.argument(description="Only pending todos past due (true), or all others (false)."),
]
SortArg = Annotated[
    TodoSort, strawberry.argument(description="Order (default CREATED: newest first).")
]


def _filter(
    completed: bool | None,
    search: str | None,
    tag: str | None,
    project: str | None,
    priority: Priority | None,
    due_before: datetime | None,
    due_after: datetime | None,
    overdue: bool | None,
) -> TodoFilter:
    return TodoFilter(
        completed=completed,
        search=search,
        tag=tag,
        project=project,
        priority=priority.level if priority is not None else None,
        due_before=due_before,
        due_after=due_after,
        overdue=overdue,
    )


def _asks_for(info: strawberry.Info[Any, Any], name: str) -> bool:
    """Whether the query selects `name` on this field (a fragment: assume it does)."""
    for field in info.selected_fields:
        for selection in field.selections:
            if not isinstance(selection, SelectedField) or selection.name == name:
                return True
    return False


@strawberry.type
class Query:
    @strawberry.field(
        description=f"Your todos, newest first unless `sort` says otherwise; {DEFAULT_PAGE} "
        f"unless `limit` says otherwise, at most {MAX_PAGE}."
    )
    async def todos(
        self,
        info: strawberry.Info[Any, Any],
        completed: Completed = None,
        search: Search = None,
        tag: Tag = None,
        project: Project = None,
        priority: PriorityArg = None,
        due_before: DueBefore = None,
        due_after: DueAfter = None,
        overdue: Overdue = None,
        sort: SortArg = TodoSort.CREATED,
        limit: Annotated[
            int | None,
            strawberry.argument(description=f"At most this many (default {DEFAULT_PAGE})."),
        ] = None,
        offset: Annotated[int, strawberry.argument(description="Skip this many first.")] = 0,
    ) -> Sequence[Todo]:
        database, owner = caller(info)
        where = _filter(completed, search, tag, project, priority, due_before, due_after, overdue)
        rows = await db_todos.list_todo_rows(
            database,
            owner,
            where=where,
            sort=sort.sort,
            limit=page_size(limit, "limit"),
            offset=offset,
        )
        return TodoRows(rows)

    @strawberry.field(
        description="Your todos a page at a time: `first` of them after the cursor `after` "
        "(the previous page's pageInfo.endCursor), with totalCount."
    )
    async def todos_connection(
        self,
        info: strawberry.Info[Any, Any],
        completed: Completed = None,
        search: Search = None,
        tag: Tag = None,
        project: Project = None,
        priority: PriorityArg = None,
        due_before: DueBefore = None,
        due_after: DueAfter = None,
        overdue: Overdue = None,
        sort: SortArg = TodoSort.CREATED,
        first: Annotated[
            int | None,
            strawberry.argument(description=f"Page size (default {DEFAULT_PAGE}, max {MAX_PAGE})."),
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="The previous page's endCursor.")
        ] = None,
    ) -> TodoConnection:
        database, owner = caller(info)
        where = _filter(completed, search, tag, project, priority, due_before, due_after, overdue)
        page = await page_todos(
            database,
            owner,
            first=page_size(first, "first"),
            after=after,
            where=where,
            sort=sort.sort,
            # Counting reads every match: only when asked.
            count=_asks_for(info, "totalCount"),
        )
        return TodoConnection(
            total_count=page.total_count,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            nodes=TodoRows(page.rows),
        )

    @strawberry.field(description="One of your todos by id; NOT_FOUND if you have none with it.")
    async def todo(self, info: strawberry.Info[Any, Any], id: int) -> Todo:
        database, owner = caller(info)
        record = await db_todos.get_todo(database, owner, id)
        if record is None:
            raise NotFound(f"Todo {id} not found.")
        return Todo.from_record(record)

    usage: list[UsageRow] = strawberry.field(
        resolver=resolve_usage,
        description="Requests and tokens your key spent on chat completions, in hourly "
        "buckets, since `since`; the server's own key sees every key.",
    )
