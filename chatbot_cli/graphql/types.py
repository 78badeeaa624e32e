"""GraphQL object types and the helpers resolvers share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry

from chatbot_cli.db.todo_query import Sort
from chatbot_cli.db.todo_query import urgency as urgency_of
from chatbot_cli.db.todo_record import PRIORITIES, TodoRecord
from chatbot_cli.graphql.leaf_fields import PURE

if TYPE_CHECKING:
    from chatbot_cli.db.session import Database


@strawberry.enum(description="How much a todo matters.")
class Priority(Enum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def level(self) -> int:
        return PRIORITIES.index(self.value)


# By stored level: a page of todos looks each one up, and calling the enum costs far more.
PRIORITY_BY_LEVEL = tuple(Priority(p) for p in PRIORITIES)


@strawberry.enum(description="List order; every order ends on the id, so pages never overlap.")
class TodoSort(Enum):
    CREATED = Sort.CREATED.value
    DUE = Sort.DUE.value
    PRIORITY = Sort.PRIORITY.value
    URGENCY = Sort.URGENCY.value

    @property
    def sort(self) -> Sort:
        return Sort(self.value)


@strawberry.type(description="A todo item. Every todo belongs to the owner of the API key used.")
class Todo:
    id: int
    title: str
    completed: bool
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")
    due: datetime | None = strawberry.field(description="When it is due (UTC), if ever.")
    priority: Priority
    tags: list[str] = strawberry.field(description="Lower-case words, sorted.")
    project: str | None
    notes: str | None = strawberry.field(description="Markdown.")
    uid: str | None = strawberry.field(
        description="The identity an import matches on (Taskwarrior's uuid); null when created "
        "here."
    )
    record: strawberry.Private[TodoRecord]

    @strawberry.field(
        description="Taskwarrior's urgency from due date, priority, age, tags, project and "
        "notes; 0 once completed.",
        metadata={PURE: True},
    )
    def urgency(self) -> float:
        # Computed only when asked for: most lists do not show it.
        return urgency_of(self.record)

    @classmethod
    def from_record(cls, record: TodoRecord) -> Todo:
        return cls(
            id=record.id,
            title=record.title,
            completed=record.completed,
            created_at=record.created_at,
            updated_at=record.updated_at,
            due=record.due,
            priority=PRIORITY_BY_LEVEL[record.priority],
            tags=list(record.tags),
            project=record.project,
            notes=record.notes,
            uid=record.uid,
            record=record,
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")


@strawberry.type(description="One page of todos, with how many match in all.")
class TodoConnection:
    total_count: int = strawberry.field(description="How many todos match, on every page.")
    page_info: PageInfo
    # A sequence: the page's rows (`todo_rows.TodoRows`), made `Todo` objects only if needed.
    nodes: Sequence[Todo]


@strawberry.type(description="What `undo` reverted.")
class UndoResult:
    action: str = strawberry.field(
        description="The change undone: add, edit, done, reopen, rm, clear or import."
    )
    restored: list[Todo] = strawberry.field(description="Todos put back as they were.")
    removed: list[int] = strawberry.field(description="Ids of todos it had created, now gone.")


@strawberry.type(description="What an import did.")
class ImportResult:
    created: list[int] = strawberry.field(description="Ids of the todos created.")
    skipped: int = strawberry.field(description="Items already there (by uid or origin).")


@strawberry.input(description="One todo to import; only the title is required.")
class TodoImportInput:
    title: str
    completed: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    due: datetime | None = None
    priority: Priority | None = None
    tags: list[str] | None = None
    project: str | None = None
    notes: str | None = None
    uid: str | None = strawberry.field(
        default=None, description="A stable identity: importing it again creates nothing."
    )
    id: int | None = strawberry.field(
        default=None, description="Its id where it was exported from (this server: not again)."
    )


def caller(info: strawberry.Info[Any, Any]) -> tuple[Database, str]:
    """The database and the owner `server/deps.graphql_context` put in the context."""
    context = info.context  # a property of Strawberry's Info: read once
    return context["database"], context["owner"]
