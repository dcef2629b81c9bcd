"""search index of indexed assets (transcript entries and keywords)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 13:20:00

Adds ``search_entries`` (one row per transcript entry or keyword instance of an
indexed asset, with its times and words) and the full-text index over its text:
an FTS5 virtual table ``search_fts`` on SQLite, a ``tsvector`` column with a GIN
index on PostgreSQL. Existing data folders are upgraded in place; assets indexed
before have no entries until they are indexed again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "search_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(),
                  sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("asset_name", sa.String(length=260), nullable=False),
        sa.Column("asset_key", sa.String(length=260), nullable=False),
        sa.Column("source_asset_name", sa.String(length=260), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start_ms", sa.Integer(), nullable=False),
        sa.Column("end_ms", sa.Integer(), nullable=False),
        sa.Column("words", sa.JSON(), nullable=False),
        # never reuse a rowid: the FTS5 index must not tie a removed entry's words to a new one
        sqlite_autoincrement=True,
    )
    op.create_index("ix_search_entries_asset", "search_entries", ["account_id", "asset_key"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE search_entries ADD COLUMN text_tsv tsvector "
                   "GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED")
        op.execute("CREATE INDEX ix_search_entries_tsv ON search_entries USING GIN (text_tsv)")
    else:
        # External-content FTS5 table: openvod writes its rows beside search_entries.
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(text, content='search_entries', "
                   "content_rowid='id', tokenize='unicode61 remove_diacritics 0')")


def downgrade() -> None:
    """Revert this migration."""
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_index("ix_search_entries_asset", table_name="search_entries")
    op.drop_table("search_entries")
