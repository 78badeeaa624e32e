"""Conversations and OpenAI's stored chat completions, with full-text search of their messages:
an FTS5 table kept by triggers on SQLite, a generated tsvector column with a GIN index on
PostgreSQL. Neither search object is in the models (models.SEARCH_OBJECTS).

Revision ID: 0005_conversations
Revises: 0004_usage
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_conversations"
down_revision: str | Sequence[str] | None = "0004_usage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Porter stemming on SQLite, the english configuration on PostgreSQL: "todos" finds "todo" on both.
_SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE chat_messages_fts USING fts5(content, content='chat_messages', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN "
    "INSERT INTO chat_messages_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN "
    "INSERT INTO chat_messages_fts(chat_messages_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF content ON chat_messages BEGIN "
    "INSERT INTO chat_messages_fts(chat_messages_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); "
    "INSERT INTO chat_messages_fts(rowid, content) VALUES (new.id, new.content); END",
)
_PG_SEARCH = (
    "ALTER TABLE chat_messages ADD COLUMN search tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', content)) STORED",
    "CREATE INDEX ix_chat_messages_search ON chat_messages USING gin (search)",
)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("title", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("model", sa.String(256), server_default=sa.text("''"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
    )
    op.create_index(
        "ix_conversations_owner_updated_at_id", "conversations", ["owner", "updated_at", "id"]
    )
    op.create_index(
        "ix_conversations_owner_name",
        "conversations",
        ["owner", "name"],
        unique=True,
        sqlite_where=sa.text("name IS NOT NULL"),
        postgresql_where=sa.text("name IS NOT NULL"),
    )
    op.create_table(
        "chat_completions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(40), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("complete", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("metadata_json", sa.Text(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_chat_completions_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chat_completions"),
    )
    op.create_index(
        "ix_chat_completions_owner_created_at_id",
        "chat_completions",
        ["owner", "created_at", "id"],
    )
    op.create_index("ix_chat_completions_conversation_id", "chat_completions", ["conversation_id"])
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(40), nullable=False),
        sa.Column("completion_id", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_chat_messages_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["completion_id"],
            ["chat_completions.id"],
            name="fk_chat_messages_completion_id_chat_completions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chat_messages"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_chat_messages_conversation_id_id", "chat_messages", ["conversation_id", "id"]
    )
    op.create_index("ix_chat_messages_owner_id", "chat_messages", ["owner", "id"])
    op.create_index("ix_chat_messages_completion_id", "chat_messages", ["completion_id"])
    statements = _SQLITE_SEARCH if op.get_bind().dialect.name == "sqlite" else _PG_SEARCH
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS chat_messages_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS chat_messages_fts")
    op.drop_table("chat_messages")
    op.drop_table("chat_completions")
    op.drop_table("conversations")
