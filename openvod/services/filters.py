"""Asset filters and account filters: the dynamic manifest filters of AMS v3.

Both live in the generic resources table: account filters as kind
``accountFilters``, asset filters as kind ``assetFilters`` with their asset's
name as parent (deleting the asset deletes them). The origin reads them with
the locator (:func:`openvod.origin.filters.load_filters`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openvod.db.models import Resource
from openvod.errors import InvalidRequestError, NotFoundError
from openvod.resources.filters import MediaFilter
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.services.repository import get_resource, list_resources, save_resource

ACCOUNT_KIND = "accountFilters"
ASSET_KIND = "assetFilters"
ACCOUNT_TYPE = "Microsoft.Media/mediaservices/accountFilters"
ASSET_TYPE = "Microsoft.Media/mediaservices/assets/assetFilters"
MAX_FILTERS = 1000  # AMS allowed 1000 filters per account and per asset
MAX_NAME = 260


def _kind(asset: str) -> str:
    return ASSET_KIND if asset else ACCOUNT_KIND


def _label(asset: str, name: str) -> str:
    return f"The asset filter '{name}' of asset '{asset}'" if asset else \
        f"The account filter '{name}'"


def get_row(session: Session, account: AccountRef, asset: str, name: str) -> Resource:
    """A stored filter (``asset`` '' for account filters), or NotFoundError."""
    row = get_resource(session, account, _kind(asset), name, parent=asset)
    if row is None:
        raise NotFoundError(f"{_label(asset, name)} was not found.")
    return row


def create_or_update(session: Session, account: AccountRef, asset: str, name: str,
                     body: MediaFilter) -> tuple[Resource, bool]:
    """PUT a filter (replacing a stored one): (the row, whether it is new)."""
    check_resource_name(name, "filter", MAX_NAME)
    existing = get_resource(session, account, _kind(asset), name, parent=asset)
    if existing is None and len(list_resources(session, account, _kind(asset), asset)) \
            >= MAX_FILTERS:
        raise InvalidRequestError(f"At most {MAX_FILTERS} filters are allowed here.")
    row = save_resource(session, account, _kind(asset), existing.name if existing else name,
                        body.properties.to_json(), parent=asset, existing=existing)
    return row, existing is None


def update(session: Session, account: AccountRef, asset: str, name: str,
           body: MediaFilter) -> Resource:
    """PATCH a filter: the top-level properties sent replace the stored ones."""
    row = get_row(session, account, asset, name)
    merged = dict(row.properties)
    merged.update(body.properties.to_json())
    return save_resource(session, account, _kind(asset), row.name, merged, parent=asset,
                         existing=row)


def delete(session: Session, account: AccountRef, asset: str, name: str) -> bool:
    """Delete a filter; False when there was none (ARM answers 204)."""
    row = get_resource(session, account, _kind(asset), name, parent=asset)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def delete_of_asset(session: Session, account: AccountRef, asset: str) -> None:
    """Delete every filter of an asset (the asset is going)."""
    for row in list_resources(session, account, ASSET_KIND, asset):
        session.delete(row)


def to_arm(account: AccountRef, row: Resource, asset: str = "") -> dict[str, Any]:
    """A filter as the SDK's AssetFilter / AccountFilter model reads it."""
    if asset:
        arm_id = f"{account.arm_id}/assets/{asset}/assetFilters/{row.name}"
    else:
        arm_id = f"{account.arm_id}/accountFilters/{row.name}"
    return envelope(arm_id=arm_id, name=row.name, type_=ASSET_TYPE if asset else ACCOUNT_TYPE,
                    properties=dict(row.properties), created=row.created_at,
                    modified=row.modified_at)


def list_arm(session: Session, account: AccountRef, asset: str = "") -> dict[str, Any]:
    """The filters of an asset (or of the account), oldest first."""
    rows = list_resources(session, account, _kind(asset), asset)
    return page([to_arm(account, r, asset) for r in rows])

