"""PostgreSQL's search index without a pending list: every new message goes straight into the GIN
index instead of a list each search reads through first.

With `fastupdate` (the default) inserted entries wait in an unsorted pending list until a vacuum
or `gin_pending_list_limit` of them; a search reads all of it, and the planner, counting those
pages, scanned every message instead of using the index. Storing is off the answer's path
(server/store.py), so it is the write that takes the cost. SQLite's FTS5 table has no such
list: nothing changes there.

Revision ID: 0006_search_index
Revises: 0005_conversations
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_search_index"
down_revision: str | Sequence[str] | None = "0005_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER INDEX ix_chat_messages_search SET (fastupdate = off)")
    # Turning it off leaves what is already listed in place: move it into the index now.
    op.execute("SELECT gin_clean_pending_list('ix_chat_messages_search'::regclass)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER INDEX ix_chat_messages_search RESET (fastupdate)")
