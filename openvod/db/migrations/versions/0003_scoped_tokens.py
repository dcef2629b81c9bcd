"""scoped bearer tokens with expiry and revocation

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 18:35:00

Adds ``public_id`` (a short name shown by ``openvod token list`` and used to
revoke), ``accounts_scope``, ``expires_at``, ``revoked_at`` and
``last_used_at`` to ``api_tokens``. Tokens issued before this migration keep
working as before: every account, no expiry.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_tokens = sa.table("api_tokens", sa.column("id", sa.Integer()), sa.column("public_id", sa.String()))


def _backfill_public_ids() -> None:
    conn = op.get_bind()
    for (token_id,) in conn.execute(sa.select(_tokens.c.id)).all():
        # The same shape openvod.services.tokens gives new tokens.
        public_id = "tok_" + secrets.token_hex(5)
        conn.execute(sa.update(_tokens).where(_tokens.c.id == token_id).values(public_id=public_id))


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("accounts_scope", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    _backfill_public_ids()
    # Only now can public_id be required (SQLite rebuilds the table for this).
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_index("ix_api_tokens_public_id", ["public_id"], unique=True)


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_api_tokens_public_id")
        for name in ("last_used_at", "revoked_at", "expires_at", "accounts_scope", "public_id"):
            batch_op.drop_column(name)
