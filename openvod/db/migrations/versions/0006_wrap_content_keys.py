"""content keys and content key policy secrets wrapped by the master key

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 13:45:00

Locators made before this kept each content key in clear (``value``, base64, in
``extra.keys``); content key policies kept token keys, FairPlay ASK, PFX and password in
clear in ``properties``. Both are rewritten in place: keys as ``wrappedValue`` bound to
the key id, policy secrets as ``{"wrapped": ...}`` bound to the policy id and field.
The master key comes from ``openvod.db.engine.migrate`` (``openvod serve`` and every
command that opens the data folder pass it).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

from openvod.keys.content_keys import wrap_key_entry
from openvod.keys.master import MasterKey
from openvod.keys.policy_secrets import has_clear_secrets, wrap_secrets

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_resources = sa.table(
    "resources", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
    sa.column("resource_uuid", sa.String()), sa.column("properties", sa.JSON()),
    sa.column("extra", sa.JSON()),
)


def _master() -> MasterKey:
    master = context.config.attributes.get("master_key")
    if not isinstance(master, MasterKey):
        raise RuntimeError("Migration 0005 wraps stored keys: run it through openvod "
                           "(openvod serve / openvod origin), which passes the master key.")
    return master


def _has_clear_keys(extra: dict[str, Any]) -> bool:
    return any(isinstance(k, dict) and "value" in k for k in extra.get("keys") or [])


def upgrade() -> None:
    """Apply this migration."""
    conn = op.get_bind()
    rows = conn.execute(sa.select(_resources).where(
        _resources.c.kind.in_(("streamingLocators", "contentKeyPolicies")))).all()
    master: MasterKey | None = None
    for row in rows:
        if row.kind == "streamingLocators":
            extra = dict(row.extra or {})
            if not _has_clear_keys(extra):
                continue  # nothing in clear: no master key needed
            master = master or _master()
            keys = [wrap_key_entry(k, master) for k in extra["keys"]]
            conn.execute(sa.update(_resources).where(_resources.c.id == row.id).values(
                extra={**extra, "keys": keys}))
        else:
            props = dict(row.properties or {})
            if not has_clear_secrets(props):
                continue
            master = master or _master()
            conn.execute(sa.update(_resources).where(_resources.c.id == row.id).values(
                properties=wrap_secrets(props, master, row.resource_uuid)))


def downgrade() -> None:
    """Wrapped secrets stay wrapped: the older code cannot read them, so refuse."""
    raise NotImplementedError("Content keys cannot be unwrapped back into the database.")
