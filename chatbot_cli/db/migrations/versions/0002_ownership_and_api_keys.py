"""Todos get an owner; API keys table. Existing todos move to the owner "default".

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills the column for every existing row, so todos created before
    # ownership existed belong to "default" (the owner of the configured key).
    op.add_column(
        "todos",
        sa.Column("owner", sa.String(64), server_default=sa.text("'default'"), nullable=False),
    )
    op.execute("UPDATE todos SET owner = 'default' WHERE owner IS NULL OR owner = ''")
    op.create_index("ix_todos_owner_id", "todos", ["owner", "id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("name", name="uq_api_keys_name"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("ix_todos_owner_id", table_name="todos")
    with op.batch_alter_table("todos") as batch:
        batch.drop_column("owner")
