"""key delivery: use counts of tokens with a maxuses claim, and locators by content key id

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 13:30:00

Adds ``key_token_uses``: one row per token (its SHA-256 hash) carrying the
``urn:microsoft:azure:mediaservices:maxuses`` claim, with the number of requests it
has been given keys for; and ``locator_content_keys``: (key id, locator row) for every
content key, filled here from the existing locators.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_resources = sa.table("resources", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
                      sa.column("extra", sa.JSON()))


def _backfill(table: sa.Table) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(_resources.c.id, _resources.c.extra).where(
        _resources.c.kind == "streamingLocators")).all()
    pairs = {(str(key["id"]).lower(), row.id) for row in rows
             for key in (row.extra or {}).get("keys") or [] if isinstance(key, dict)}
    if pairs:
        conn.execute(sa.insert(table), [{"key_id": k, "resource_id": r} for k, r in pairs])


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "key_token_uses",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_key_token_uses_expires_at", "key_token_uses", ["expires_at"])
    table = op.create_table(
        "locator_content_keys",
        sa.Column("key_id", sa.String(length=36), primary_key=True),
        sa.Column("resource_id", sa.Integer(),
                  sa.ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_index("ix_locator_content_keys_resource_id", "locator_content_keys",
                    ["resource_id"])
    _backfill(table)


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index("ix_locator_content_keys_resource_id", "locator_content_keys")
    op.drop_table("locator_content_keys")
    op.drop_index("ix_key_token_uses_expires_at", "key_token_uses")
    op.drop_table("key_token_uses")
