"""Todo fields (due, priority, project, notes, tags, uid), the todo_tags table and the undo
journal. Existing todos keep working: every new column is NULL or has a server default.

Revision ID: 0003_todo_fields
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_todo_fields"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("todos", sa.Column("due", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "todos",
        sa.Column("priority", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("todos", sa.Column("project", sa.String(100), nullable=True))
    op.add_column("todos", sa.Column("notes", sa.Text(), nullable=True))
    op.add_column(
        "todos", sa.Column("tags", sa.Text(), server_default=sa.text("''"), nullable=False)
    )
    op.add_column("todos", sa.Column("uid", sa.String(64), nullable=True))
    op.create_index("ix_todos_owner_completed_id", "todos", ["owner", "completed", "id"])
    op.create_index("ix_todos_owner_due", "todos", ["owner", "due"])
    op.create_index("ix_todos_owner_priority_id", "todos", ["owner", "priority", "id"])
    op.create_index("ix_todos_owner_project_id", "todos", ["owner", "project", "id"])
    op.create_index(
        "ix_todos_owner_uid",
        "todos",
        ["owner", "uid"],
        unique=True,
        sqlite_where=sa.text("uid IS NOT NULL"),
        postgresql_where=sa.text("uid IS NOT NULL"),
    )
    op.create_table(
        "todo_tags",
        sa.Column("todo_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["todo_id"], ["todos.id"], name="fk_todo_tags_todo_id_todos", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("todo_id", "tag", name="pk_todo_tags"),
    )
    op.create_index("ix_todo_tags_owner_tag_todo_id", "todo_tags", ["owner", "tag", "todo_id"])
    op.create_table(
        "todo_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_todo_journal"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_todo_journal_owner_id", "todo_journal", ["owner", "id"])


def downgrade() -> None:
    op.drop_index("ix_todo_journal_owner_id", table_name="todo_journal")
    op.drop_table("todo_journal")
    op.drop_index("ix_todo_tags_owner_tag_todo_id", table_name="todo_tags")
    op.drop_table("todo_tags")
    for name in (
        "ix_todos_owner_uid",
        "ix_todos_owner_project_id",
        "ix_todos_owner_priority_id",
        "ix_todos_owner_due",
        "ix_todos_owner_completed_id",
    ):
        op.drop_index(name, table_name="todos")
    with op.batch_alter_table("todos") as batch:
        for column in ("uid", "tags", "notes", "project", "priority", "due"):
            batch.drop_column(column)
