"""Assets: a container of files in the blob store plus AMS metadata."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from openvod.clock import iso, parse_iso, utcnow
from openvod.db.models import Resource
from openvod.errors import ConflictError, InvalidRequestError
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.services.repository import (
    get_resource,
    list_resources,
    referencing,
    require_resource,
    save_resource,
)
from openvod.storage.sas import generate_container_sas
from openvod.storage.store import BlobStore

KIND = "assets"
TYPE = "Microsoft.Media/mediaservices/assets"
_SAS_PERMISSIONS = {"Read": "rl", "ReadWrite": "racwl", "ReadWriteDelete": "racwdl"}


def container_name(asset_id: str) -> str:
    """The default blob container of an asset, as AMS named it."""
    return f"asset-{asset_id}"


def create_or_update(
    session: Session,
    account: AccountRef,
    name: str,
    body: dict[str, Any],
    *,
    store: BlobStore,
    storage_account_name: str,
) -> tuple[Resource, bool]:
    """Create an asset (and its container) or update its description/alternateId."""
    check_resource_name(name, "asset")
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidRequestError("'properties' must be an object.")
    row = get_resource(session, account, KIND, name)
    if row is not None:
        stored = dict(row.properties)
        for key in ("description", "alternateId"):
            if key in props:
                stored[key] = props[key]
        return save_resource(session, account, KIND, name, stored, existing=row), False
    storage = props.get("storageAccountName") or storage_account_name
    if storage != storage_account_name:
        raise InvalidRequestError(
            f"The storage account '{storage}' is not attached; this server's storage account is "
            f"'{storage_account_name}'."
        )
    encryption = props.get("storageEncryptionFormat") or "None"
    if encryption != "None":
        raise InvalidRequestError(
            f"storageEncryptionFormat '{encryption}' is not supported; use 'None'."
        )
    asset_id = str(uuid.uuid4())
    container = props.get("container") or container_name(asset_id)
    _check_container(container)
    stored = {
        "alternateId": props.get("alternateId"),
        "description": props.get("description"),
        "container": container,
        "storageAccountName": storage,
        "storageEncryptionFormat": encryption,
    }
    row = save_resource(session, account, KIND, name, stored, resource_uuid=asset_id)
    store.create_container(container)
    return row, True


def _check_container(container: str) -> None:
    valid = (
        3 <= len(container) <= 63
        and container.replace("-", "").isalnum()
        and container == container.lower()
        and not container.startswith("-")
        and "--" not in container
    )
    if not valid:
        raise InvalidRequestError(
            f"The container name '{container}' is not valid: use 3-63 lowercase letters, "
            "digits and single hyphens."
        )


def update(session: Session, account: AccountRef, name: str, body: dict[str, Any]) -> Resource:
    """PATCH: description and alternateId are the only mutable properties."""
    row = require_resource(session, account, KIND, name, "asset")
    props = body.get("properties") or {}
    stored = dict(row.properties)
    for key in ("description", "alternateId"):
        if key in props:
            stored[key] = props[key]
    return save_resource(session, account, KIND, name, stored, existing=row)


def delete(session: Session, account: AccountRef, name: str, store: BlobStore) -> None:
    """Delete an asset, its locators and its files."""
    row = get_resource(session, account, KIND, name)
    if row is None:
        return  # ARM deletes are idempotent: 204
    for locator in referencing(session, account, "streamingLocators", asset=row.name):
        session.delete(locator)
    session.delete(row)
    session.flush()
    store.delete_container(row.properties["container"])


def to_arm(account: AccountRef, row: Resource) -> dict[str, Any]:
    """The asset as the SDK's Asset model reads it."""
    props = dict(row.properties)
    props.update(
        {"assetId": row.resource_uuid, "created": iso(row.created_at),
         "lastModified": iso(row.modified_at)}
    )
    return envelope(
        arm_id=f"{account.arm_id}/assets/{row.name}",
        name=row.name,
        type_=TYPE,
        properties=props,
        created=row.created_at,
        modified=row.modified_at,
    )


def list_arm(session: Session, account: AccountRef) -> list[dict[str, Any]]:
    """All assets of an account as ARM documents."""
    return [to_arm(account, r) for r in list_resources(session, account, KIND)]


def container_sas_urls(
    session: Session,
    account: AccountRef,
    name: str,
    body: dict[str, Any],
    *,
    blob_base_url: str,
    storage_account_name: str,
    storage_key: bytes,
    max_hours: int,
) -> dict[str, Any]:
    """``listContainerSas``: signed, expiring URLs of the asset's container."""
    row = require_resource(session, account, KIND, name, "asset")
    permissions = body.get("permissions")
    if permissions not in _SAS_PERMISSIONS:
        raise InvalidRequestError(
            f"'permissions' must be one of {', '.join(_SAS_PERMISSIONS)}; got {permissions!r}."
        )
    expiry_text = body.get("expiryTime")
    if not isinstance(expiry_text, str):
        raise InvalidRequestError("'expiryTime' is required (an ISO 8601 time).")
    try:
        expiry = parse_iso(expiry_text)
    except ValueError as exc:
        raise InvalidRequestError(f"'expiryTime' is not an ISO 8601 time: {expiry_text}") from exc
    now = utcnow()
    if expiry <= now:
        raise InvalidRequestError("'expiryTime' must be in the future.")
    if expiry > now + timedelta(hours=max_hours):
        raise InvalidRequestError(f"'expiryTime' may be at most {max_hours} hours from now.")
    container = row.properties["container"]
    query = generate_container_sas(
        storage_account_name,
        storage_key,
        container,
        permission=_SAS_PERMISSIONS[permissions],
        expiry=expiry,
    )
    return {"assetContainerSasUrls": [f"{blob_base_url}/{container}?{query}"]}


def ensure_no_conflict(session: Session, account: AccountRef, name: str) -> None:
    """Raise ConflictError if an asset of that name exists."""
    if get_resource(session, account, KIND, name) is not None:
        raise ConflictError(f"The asset '{name}' already exists.")


def list_page(session: Session, account: AccountRef) -> dict[str, Any]:
    """The list response for GET .../assets."""
    return page(list_arm(session, account))
