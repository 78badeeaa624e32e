"""Per-key usage and rate limits: the limit columns of api_keys (NULL: no limit), hourly usage
per key and model, and the rate counters every replica checks limits against.

Revision ID: 0004_usage
Revises: 0003_todo_fields
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_usage"
down_revision: str | Sequence[str] | None = "0003_todo_fields"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIMITS = ("rpm_limit", "tpm_limit", "tokens_per_day_limit", "concurrent_limit")


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("rpm_limit", sa.Integer(), nullable=True))
    op.add_column("api_keys", sa.Column("tpm_limit", sa.Integer(), nullable=True))
    op.add_column("api_keys", sa.Column("tokens_per_day_limit", sa.BigInteger(), nullable=True))
    op.add_column("api_keys", sa.Column("concurrent_limit", sa.Integer(), nullable=True))
    op.create_table(
        "usage_hours",
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "model", "hour", name="pk_usage_hours"),
    )
    op.create_index("ix_usage_hours_hour", "usage_hours", ["hour"])
    op.create_table(
        "rate_counters",
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "kind", "bucket", name="pk_rate_counters"),
    )


def downgrade() -> None:
    op.drop_table("rate_counters")
    op.drop_index("ix_usage_hours_hour", table_name="usage_hours")
    op.drop_table("usage_hours")
    with op.batch_alter_table("api_keys") as batch:
        for column in reversed(LIMITS):
            batch.drop_column(column)
