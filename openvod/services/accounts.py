"""Media services accounts: the tenant boundary of every other resource."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openvod.clock import utcnow
from openvod.db.models import Account
from openvod.errors import InvalidRequestError
from openvod.resources.accounts import MediaService, MediaServiceProperties
from openvod.services import endpoints
from openvod.services.arm import envelope, page
from openvod.services.names import check_account_name
from openvod.services.repository import account_ref

ACCOUNT_TYPE = "Microsoft.Media/mediaservices"


def create_or_update(
    session: Session,
    subscription_id: str,
    resource_group: str,
    name: str,
    body: MediaService,
    *,
    storage_account_name: str,
) -> tuple[Account, bool]:
    """Create or update an account; returns (row, created).

    A new account gets the ``default`` streaming endpoint (Stopped), as AMS did.
    """
    check_account_name(name)
    location = body.location
    row = session.scalar(select(Account).where(Account.name_key == name.lower()))
    now = utcnow()
    created = row is None
    if row is None:
        row = Account(
            name=name,
            name_key=name.lower(),
            subscription_id=subscription_id,
            resource_group=resource_group,
            location=location or "local",
            media_service_id=str(uuid.uuid4()),
            created_at=now,
            modified_at=now,
        )
        session.add(row)
    elif (
        row.subscription_id.lower() != subscription_id.lower()
        or row.resource_group.lower() != resource_group.lower()
    ):
        raise InvalidRequestError(
            f"The account name '{name}' is already taken in another resource group.",
            code="MediaServiceAccountNameNotAvailable",
        )
    if location:
        row.location = location
    row.tags = dict(body.tags or {})
    row.properties = _stored_properties(body.props, storage_account_name)
    row.modified_at = now
    session.flush()
    if created:
        endpoints.create_default(session, account_ref(row))
    return row, created


def update(session: Session, row: Account, body: MediaService, *,
           storage_account_name: str) -> Account:
    """PATCH an account: tags and the properties sent replace the stored ones."""
    if body.location is not None and body.location.lower() != row.location.lower():
        raise InvalidRequestError(
            f"'location' cannot change: the account is in '{row.location}'.", code="BadRequest")
    if "tags" in body.model_fields_set:
        row.tags = dict(body.tags or {})
    sent = body.props.model_fields_set
    if sent:
        props = dict(row.properties)
        fresh = _stored_properties(body.props, storage_account_name)
        for field in sent:
            alias = MediaServiceProperties.model_fields[field].alias or field
            if alias in fresh:
                props[alias] = fresh[alias]
        row.properties = props
    row.modified_at = utcnow()
    session.flush()
    return row


def _stored_properties(
    props: MediaServiceProperties, storage_account_name: str
) -> dict[str, Any]:
    storage = [a.to_json() for a in props.storage_accounts or []] or [
        {"id": f"/local/storageAccounts/{storage_account_name}", "type": "Primary"}
    ]
    return {
        "storageAccounts": storage,
        "storageAuthentication": props.storage_authentication or "System",
        "publicNetworkAccess": props.public_network_access or "Enabled",
        "minimumTlsVersion": props.minimum_tls_version or "Tls12",
    }


def to_arm(row: Account) -> dict[str, Any]:
    """The account as the SDK's MediaService model reads it."""
    ref = account_ref(row)
    props = dict(row.properties)
    props.update(
        {
            "mediaServiceId": row.media_service_id,
            "encryption": {"type": "SystemKey"},
            "keyDelivery": {"accessControl": {"defaultAction": "Allow"}},
            "provisioningState": "Succeeded",
            "privateEndpointConnections": [],
        }
    )
    return envelope(
        arm_id=ref.arm_id,
        name=row.name,
        type_=ACCOUNT_TYPE,
        properties=props,
        created=row.created_at,
        modified=row.modified_at,
        extra={"location": row.location, "tags": row.tags},
    )


def list_accounts(
    session: Session,
    subscription_id: str,
    resource_group: str | None,
    *,
    visible: Collection[str] | None = None,
) -> dict[str, Any]:
    """Accounts of a subscription, optionally of one resource group.

    ``visible`` (lower-cased names) limits the list to the accounts a scoped
    token may see; None shows them all.
    """
    query = select(Account).order_by(Account.created_at)
    if visible is not None:
        query = query.where(Account.name_key.in_(list(visible)))
    values = [
        to_arm(r)
        for r in session.scalars(query)
        if r.subscription_id.lower() == subscription_id.lower()
        and (resource_group is None or r.resource_group.lower() == resource_group.lower())
    ]
    return page(values)


def select_account(session: Session, account_id: int) -> Account:
    """An account row by its primary key."""
    row = session.get(Account, account_id)
    if row is None:
        raise LookupError(f"account {account_id} not found")
    return row
