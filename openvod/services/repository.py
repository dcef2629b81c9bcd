"""Generic persistence of AMS resources in the ``resources`` table."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from openvod.clock import utcnow
from openvod.db.models import Account, Resource
from openvod.errors import NotFoundError
from openvod.services.arm import AccountRef


def account_ref(row: Account) -> AccountRef:
    """The immutable reference of an account row."""
    return AccountRef(
        id=row.id,
        name=row.name,
        subscription_id=row.subscription_id,
        resource_group=row.resource_group,
        location=row.location,
    )


def find_account(session: Session, subscription_id: str, resource_group: str, name: str) -> Account:
    """The account at an ARM path, or NotFoundError as ARM words it."""
    row = session.scalar(select(Account).where(Account.name_key == name.lower()))
    if (
        row is None
        or row.subscription_id.lower() != subscription_id.lower()
        or row.resource_group.lower() != resource_group.lower()
    ):
        raise NotFoundError(
            f"The Resource 'Microsoft.Media/mediaservices/{name}' under resource group "
            f"'{resource_group}' was not found."
        )
    return row


def get_resource(
    session: Session, account: AccountRef, kind: str, name: str, parent: str = ""
) -> Resource | None:
    """One resource by name (case-insensitive), or None."""
    return session.scalar(
        select(Resource).where(
            Resource.account_id == account.id,
            Resource.kind == kind,
            Resource.parent_key == parent.lower(),
            Resource.name_key == name.lower(),
        )
    )


def require_resource(
    session: Session, account: AccountRef, kind: str, name: str, label: str, parent: str = ""
) -> Resource:
    """One resource by name, or NotFoundError naming it."""
    row = get_resource(session, account, kind, name, parent)
    if row is None:
        raise NotFoundError(f"The {label} '{name}' was not found in account '{account.name}'.")
    return row


def list_resources(
    session: Session, account: AccountRef, kind: str, parent: str = ""
) -> list[Resource]:
    """All resources of a kind, oldest first, then by name."""
    return list(
        session.scalars(
            select(Resource)
            .where(
                Resource.account_id == account.id,
                Resource.kind == kind,
                Resource.parent_key == parent.lower(),
            )
            .order_by(Resource.created_at, Resource.name_key)
        )
    )


def find_by_uuid(session: Session, kind: str, resource_uuid: str) -> Resource | None:
    """A resource by its AMS id (assetId, streamingLocatorId...) across accounts."""
    return session.scalar(
        select(Resource).where(Resource.kind == kind, Resource.resource_uuid == resource_uuid)
    )


def save_resource(
    session: Session,
    account: AccountRef,
    kind: str,
    name: str,
    properties: dict[str, Any],
    *,
    parent: str = "",
    resource_uuid: str | None = None,
    extra: dict[str, Any] | None = None,
    existing: Resource | None = None,
    asset: str | None = None,
    streaming_policy: str | None = None,
    content_key_policy: str | None = None,
) -> Resource:
    """Insert a new resource or update ``existing``; returns the row (flushed).

    ``asset``, ``streaming_policy`` and ``content_key_policy`` name the
    resources this one refers to; they are stored lower-cased so that
    :func:`referencing` finds them through an index. On an update, a reference
    given replaces the stored one and None keeps it.
    """
    now = utcnow()
    if existing is None:
        existing = Resource(
            account_id=account.id,
            kind=kind,
            parent_key=parent.lower(),
            name=name,
            name_key=name.lower(),
            resource_uuid=resource_uuid or str(uuid.uuid4()),
            properties=properties,
            extra=extra or {},
            created_at=now,
            modified_at=now,
        )
        session.add(existing)
    else:
        existing.properties = dict(properties)
        if extra is not None:
            existing.extra = dict(extra)
        existing.modified_at = now
    for column, value in _reference_columns(asset, streaming_policy, content_key_policy):
        setattr(existing, column, value)
    session.flush()
    return existing


def _reference_columns(
    asset: str | None, streaming_policy: str | None, content_key_policy: str | None
) -> list[tuple[str, str]]:
    """(column, lower-cased name) for each reference given."""
    given = {
        "asset_key": asset,
        "streaming_policy_key": streaming_policy,
        "content_key_policy_key": content_key_policy,
    }
    # isinstance: callers pass values from request JSON, which may be any type.
    return [(c, name.lower()) for c, name in given.items() if isinstance(name, str) and name]


def _referencing_query(
    account: AccountRef,
    kind: str,
    asset: str | None,
    streaming_policy: str | None,
    content_key_policy: str | None,
) -> Select[Resource]:
    references = _reference_columns(asset, streaming_policy, content_key_policy)
    if not references:
        raise ValueError("name at least one of asset, streaming_policy, content_key_policy")
    # Each condition is (account_id, kind, <column>): the prefix of its own index.
    conditions = [getattr(Resource, column) == value for column, value in references]
    return select(Resource).where(
        Resource.account_id == account.id, Resource.kind == kind, *conditions
    )


def referencing(
    session: Session,
    account: AccountRef,
    kind: str,
    *,
    asset: str | None = None,
    streaming_policy: str | None = None,
    content_key_policy: str | None = None,
) -> list[Resource]:
    """The resources of a kind that refer to every named resource, oldest first.

    E.g. ``referencing(s, acct, "streamingLocators", asset="in1")`` is the
    locators publishing asset ``in1``. Names match case-insensitively.
    """
    query = _referencing_query(account, kind, asset, streaming_policy, content_key_policy)
    return list(session.scalars(query.order_by(Resource.created_at, Resource.name_key)))


def is_referenced(
    session: Session,
    account: AccountRef,
    kind: str,
    *,
    asset: str | None = None,
    streaming_policy: str | None = None,
    content_key_policy: str | None = None,
) -> bool:
    """Whether any resource of a kind refers to every named resource."""
    query = _referencing_query(account, kind, asset, streaming_policy, content_key_policy)
    return session.scalar(query.with_only_columns(Resource.id).limit(1)) is not None
