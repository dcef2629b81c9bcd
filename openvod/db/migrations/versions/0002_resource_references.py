"""resource references as indexed columns

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 18:30:00

Adds ``asset_key``, ``streaming_policy_key`` and ``content_key_policy_key`` to
``resources`` with ``(account_id, kind, <column>)`` indexes, and fills them in
place from each row's JSON ``properties`` so that rules such as "is this policy
used by a locator" become indexed queries.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = ("asset_key", "streaming_policy_key", "content_key_policy_key")
_INDEXES = {
    "ix_resources_asset": "asset_key",
    "ix_resources_streaming_policy": "streaming_policy_key",
    "ix_resources_content_key_policy": "content_key_policy_key",
}
# kind -> (column, properties field) pairs the backfill reads.
_SOURCES = {
    "streamingLocators": (
        ("asset_key", "assetName"),
        ("streaming_policy_key", "streamingPolicyName"),
        ("content_key_policy_key", "defaultContentKeyPolicyName"),
    ),
    "streamingPolicies": (("content_key_policy_key", "defaultContentKeyPolicyName"),),
}
_resources = sa.table(
    "resources",
    sa.column("id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("properties", sa.JSON()),
    *(sa.column(name, sa.String()) for name in _COLUMNS),
)


def _references(kind: str, properties: Any) -> dict[str, str]:
    """The reference columns of one row, from its stored properties."""
    if not isinstance(properties, dict):
        return {}
    values: dict[str, str] = {}
    for column, field in _SOURCES[kind]:
        value = properties.get(field)
        if isinstance(value, str) and value:
            values[column] = value.lower()
    return values


def _backfill() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_resources.c.id, _resources.c.kind, _resources.c.properties).where(
            _resources.c.kind.in_(list(_SOURCES))
        )
    ).all()
    for row_id, kind, properties in rows:
        values = _references(kind, properties)
        if values:
            conn.execute(
                sa.update(_resources).where(_resources.c.id == row_id).values(**values)
            )


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("resources", schema=None) as batch_op:
        for name in _COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=260), nullable=True))
        for index, column in _INDEXES.items():
            batch_op.create_index(index, ["account_id", "kind", column], unique=False)
    _backfill()


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("resources", schema=None) as batch_op:
        for index in _INDEXES:
            batch_op.drop_index(index)
        for name in _COLUMNS:
            batch_op.drop_column(name)
