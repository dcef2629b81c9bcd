"""Generic persistence of AMS resources in the ``resources`` table."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
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
) -> Resource:
    """Insert a new resource or update ``existing``; returns the row (flushed)."""
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
    session.flush()
    return existing
