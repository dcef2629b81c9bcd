"""SQLAlchemy tables of the metadata store.

Most AMS resources (assets, transforms, policies, locators, endpoints, content
key policies...) share one ``resources`` table: their AMS ``properties`` are a
JSON document validated by the API layer. Jobs have their own table because
the worker queries them as a queue (state, lease, priority).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Account(Base):
    """A media services account: the tenant boundary."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)  # lower-cased name
    subscription_id: Mapped[str] = mapped_column(String(64))
    resource_group: Mapped[str] = mapped_column(String(90))
    location: Mapped[str] = mapped_column(String(64))
    media_service_id: Mapped[str] = mapped_column(String(36))
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for the management API, stored as its SHA-256 hash.

    ``public_id`` names the token in listings and revocation; the secret itself
    is never stored. ``accounts_scope`` is None for a token that may use every
    account, else the sorted lower-cased account names it may use.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_public_id", "public_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    accounts_scope: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Resource(Base):
    """One AMS resource of an account, its ``properties`` as JSON.

    The ``*_key`` reference columns hold the lower-cased name of another
    resource this one points at (a locator's asset, streaming policy and
    default content key policy; a streaming policy's default content key
    policy), so cross-resource rules are indexed queries, not JSON scans.
    """

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("account_id", "kind", "parent_key", "name_key"),
        Index("ix_resources_lookup", "account_id", "kind", "parent_key"),
        Index("ix_resources_asset", "account_id", "kind", "asset_key"),
        Index("ix_resources_streaming_policy", "account_id", "kind", "streaming_policy_key"),
        Index("ix_resources_content_key_policy", "account_id", "kind", "content_key_policy_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))  # URL collection name, e.g. 'assets'
    parent_key: Mapped[str] = mapped_column(String(260), default="")
    name: Mapped[str] = mapped_column(String(260))
    name_key: Mapped[str] = mapped_column(String(260))
    resource_uuid: Mapped[str] = mapped_column(String(36), index=True)  # assetId, locatorId...
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)  # location, tags, sku
    asset_key: Mapped[str | None] = mapped_column(String(260), nullable=True)
    streaming_policy_key: Mapped[str | None] = mapped_column(String(260), nullable=True)
    content_key_policy_key: Mapped[str | None] = mapped_column(String(260), nullable=True)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]


class Job(Base):
    """An encoding job: both an AMS resource and a queue entry."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("account_id", "transform_key", "name_key"),
        Index("ix_jobs_queue", "state", "priority_rank", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    transform_name: Mapped[str] = mapped_column(String(260))
    transform_key: Mapped[str] = mapped_column(String(260))
    name: Mapped[str] = mapped_column(String(260))
    name_key: Mapped[str] = mapped_column(String(260))
    state: Mapped[str] = mapped_column(String(20))
    priority_rank: Mapped[int] = mapped_column(Integer, default=1)  # 0 High, 1 Normal, 2 Low
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]


class Operation(Base):
    """An ARM asynchronous operation (streaming endpoint start/stop/scale...)."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))  # InProgress | Succeeded | Failed
    target: Mapped[str] = mapped_column(String(500))
    error: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class KeyTokenUse(Base):
    """How many times a key delivery token with a ``maxuses`` claim has been used.

    Tokens are kept as their SHA-256 hash, never in clear; ``expires_at`` (the token's
    own expiry, when it has one) lets old rows be purged.
    """

    __tablename__ = "key_token_uses"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
