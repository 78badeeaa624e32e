"""Generation leases: one row per generation in flight for a key with a `--concurrent` limit, so
the cap holds across every replica sharing the database rather than per server process.

Revision ID: 0007_generation_leases
Revises: 0006_search_index
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_generation_leases"
down_revision: str | Sequence[str] | None = "0006_search_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "generation_leases",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_generation_leases"),
    )
    op.create_index("ix_generation_leases_owner", "generation_leases", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_generation_leases_owner", table_name="generation_leases")
    op.drop_table("generation_leases")
