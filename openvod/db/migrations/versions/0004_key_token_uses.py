"""key delivery: use counts of tokens with a maxuses claim

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 13:30:00

Adds ``key_token_uses``: one row per token (its SHA-256 hash) carrying the
``urn:microsoft:azure:mediaservices:maxuses`` claim, with the number of keys or
licenses it has been given.
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
        "key_token_uses",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    """Revert this migration."""
    op.drop_table("key_token_uses")
