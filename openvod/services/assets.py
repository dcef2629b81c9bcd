"""Assets: a container of files in the blob store plus AMS metadata."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from openvod.clock import iso, utcnow
from openvod.db.models import Resource
from openvod.errors import InvalidRequestError
from openvod.keys.master import MasterKey
from openvod.keys.storage_keys import ENCRYPTED_FORMAT, EXTRA_FIELD, new_wrapped_key
from openvod.resources.actions import ListContainerSasResponse
from openvod.resources.assets import Asset, AssetProperties, ListContainerSasInput
from openvod.services import filters
from openvod.services.arm import AccountRef, envelope
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
    body: Asset,
    *,
    storage_account_name: str,
    master_key: MasterKey | None = None,
    storage_encryption: str = "requested",
) -> tuple[Resource, bool]:
    """Create an asset or update its description/alternateId; returns (row, created).

    A new asset is storage-encrypted when it asks for ``MediaStorageClientEncryption``
    or ``storage_encryption`` is ``"always"``: it gets a random key, wrapped by
    ``master_key`` (:mod:`openvod.keys.storage_keys`).

    The blob container is not made here: the caller makes it once the row is
    committed (:func:`provision_container`), so a refused PUT leaves nothing.
    """
    check_resource_name(name, "asset")
    props = body.props
    row = get_resource(session, account, KIND, name)
    if row is not None:
        return save_resource(
            session, account, KIND, name, _updated(row, props), existing=row
        ), False
    storage = props.storage_account_name or storage_account_name
    if storage != storage_account_name:
        raise InvalidRequestError(
            f"The storage account '{storage}' is not attached; this server's storage account is "
            f"'{storage_account_name}'."
        )
    encryption: str = props.storage_encryption_format or "None"
    if storage_encryption == "always":
        encryption = ENCRYPTED_FORMAT
    asset_id = str(uuid.uuid4())
    extra: dict[str, Any] = {}
    if encryption == ENCRYPTED_FORMAT:
        if master_key is None:
            raise InvalidRequestError("Storage encryption needs the master key.")
        extra[EXTRA_FIELD] = new_wrapped_key(master_key, asset_id)
    container = props.container or container_name(asset_id)
    _check_container(container)
    stored = {
        "alternateId": props.alternate_id,
        "description": props.description,
        "container": container,
        "storageAccountName": storage,
        "storageEncryptionFormat": encryption,
    }
    row = save_resource(
        session, account, KIND, name, stored, resource_uuid=asset_id, extra=extra
    )
    return row, True


def provision_container(store: BlobStore, container: str) -> bool:
    """Make a new asset's container; True if this call created it (so a rollback removes it)."""
    if store.container_exists(container):
        return False
    store.create_container(container)
    return True


def _updated(row: Resource, props: AssetProperties) -> dict[str, Any]:
    """The stored properties with the mutable ones that were sent replaced."""
    stored = dict(row.properties)
    sent = props.model_fields_set
    if "description" in sent:
        stored["description"] = props.description
    if "alternate_id" in sent:
        stored["alternateId"] = props.alternate_id
    return stored


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


def update(session: Session, account: AccountRef, name: str, body: Asset) -> Resource:
    """PATCH: description and alternateId are the only mutable properties."""
    row = require_resource(session, account, KIND, name, "asset")
    stored = _updated(row, body.props)
    return save_resource(session, account, KIND, name, stored, existing=row)


def delete(session: Session, account: AccountRef, name: str) -> str | None:
    """Delete an asset and its locators; returns its container, or None if there was no asset.

    The caller removes the container's files once the transaction has committed,
    so a failed delete never leaves an asset without its files.
    """
    row = get_resource(session, account, KIND, name)
    if row is None:
        return None  # ARM deletes are idempotent: 204
    for locator in referencing(session, account, "streamingLocators", asset=row.name):
        session.delete(locator)
    filters.delete_of_asset(session, account, row.name)
    session.delete(row)
    session.flush()
    return str(row.properties["container"])


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


def list_rows(session: Session, account: AccountRef) -> list[Resource]:
    """All assets of an account, oldest first."""
    return list_resources(session, account, KIND)


def list_arm(session: Session, account: AccountRef) -> list[dict[str, Any]]:
    """All assets of an account as ARM documents."""
    return [to_arm(account, r) for r in list_rows(session, account)]


def container_sas_urls(
    session: Session,
    account: AccountRef,
    name: str,
    body: ListContainerSasInput,
    *,
    blob_base_url: str,
    storage_account_name: str,
    storage_key: bytes,
    max_hours: int,
) -> ListContainerSasResponse:
    """``listContainerSas``: signed, expiring URLs of the asset's container."""
    row = require_resource(session, account, KIND, name, "asset")
    permissions, expiry = body.permissions, body.expiry_time
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
    url = f"{blob_base_url}/{container}?{query}"
    return ListContainerSasResponse(asset_container_sas_urls=[url])
