"""GraphQL object types and the helpers resolvers share."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry

if TYPE_CHECKING:
    from chatbot_cli.db.session import Database
    from chatbot_cli.db.todos import TodoRecord


@strawberry.type(description="A todo item. Every todo belongs to the owner of the API key used.")
class Todo:
    id: int
    title: str
    completed: bool
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    updated_at: datetime = strawberry.field(description="When it last changed (UTC).")

    @classmethod
    def from_record(cls, record: TodoRecord) -> Todo:
        return cls(
            id=record.id,
            title=record.title,
            completed=record.completed,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


def caller(info: strawberry.Info[Any, Any]) -> tuple[Database, str]:
    """The database and the owner `server/deps.graphql_context` put in the context."""
    return info.context["database"], info.context["owner"]
