"""Management routes for dynamic manifest filters: account filters and asset filters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from openvod.api.bodies import body_schema, typed_body
from openvod.api.deps import ACCOUNT_PREFIX, account, get_ctx, require_token
from openvod.context import Context
from openvod.resources.filters import MediaFilter
from openvod.services import assets, filters
from openvod.services.arm import AccountRef
from openvod.services.repository import require_resource

router = APIRouter(dependencies=[Depends(require_token)])
P = ACCOUNT_PREFIX
ACCOUNT_FILTERS = P + "/accountFilters"
ASSET_FILTERS = P + "/assets/{asset}/assetFilters"
Body = dict[str, Any]
_BODY = typed_body(MediaFilter)


def _deleted(found: bool) -> Response:
    return Response(status_code=200 if found else 204)


# --- account filters ------------------------------------------------------------------
@router.get(ACCOUNT_FILTERS)
def list_account_filters(acct: AccountRef = Depends(account),
                         ctx: Context = Depends(get_ctx)) -> Body:
    """The account's filters."""
    with ctx.session() as s:
        return filters.list_arm(s, acct)


@router.get(ACCOUNT_FILTERS + "/{name}")
def get_account_filter(name: str, acct: AccountRef = Depends(account),
                       ctx: Context = Depends(get_ctx)) -> Body:
    """One account filter."""
    with ctx.session() as s:
        return filters.to_arm(acct, filters.get_row(s, acct, "", name))


@router.put(ACCOUNT_FILTERS + "/{name}", openapi_extra=body_schema(MediaFilter))
def put_account_filter(name: str, body: MediaFilter = Depends(_BODY),
                       acct: AccountRef = Depends(account),
                       ctx: Context = Depends(get_ctx)) -> JSONResponse:
    """Create or replace an account filter."""
    with ctx.session() as s:
        row, new = filters.create_or_update(s, acct, "", name, body)
        return JSONResponse(filters.to_arm(acct, row), status_code=201 if new else 200)


@router.patch(ACCOUNT_FILTERS + "/{name}", openapi_extra=body_schema(MediaFilter))
def patch_account_filter(name: str, body: MediaFilter = Depends(_BODY),
                         acct: AccountRef = Depends(account),
                         ctx: Context = Depends(get_ctx)) -> Body:
    """Update an account filter."""
    with ctx.session() as s:
        return filters.to_arm(acct, filters.update(s, acct, "", name, body))


@router.delete(ACCOUNT_FILTERS + "/{name}")
def delete_account_filter(name: str, acct: AccountRef = Depends(account),
                          ctx: Context = Depends(get_ctx)) -> Response:
    """Delete an account filter."""
    with ctx.session() as s:
        return _deleted(filters.delete(s, acct, "", name))


# --- asset filters --------------------------------------------------------------------
def _asset(s: Any, acct: AccountRef, asset: str) -> str:
    """The asset's name as stored; NotFoundError for an unknown asset."""
    return str(require_resource(s, acct, assets.KIND, asset, "asset").name)


@router.get(ASSET_FILTERS)
def list_asset_filters(asset: str, acct: AccountRef = Depends(account),
                       ctx: Context = Depends(get_ctx)) -> Body:
    """The filters of an asset."""
    with ctx.session() as s:
        return filters.list_arm(s, acct, _asset(s, acct, asset))


@router.get(ASSET_FILTERS + "/{name}")
def get_asset_filter(asset: str, name: str, acct: AccountRef = Depends(account),
                     ctx: Context = Depends(get_ctx)) -> Body:
    """One asset filter."""
    with ctx.session() as s:
        stored = _asset(s, acct, asset)
        return filters.to_arm(acct, filters.get_row(s, acct, stored, name), stored)


@router.put(ASSET_FILTERS + "/{name}", openapi_extra=body_schema(MediaFilter))
def put_asset_filter(asset: str, name: str, body: MediaFilter = Depends(_BODY),
                     acct: AccountRef = Depends(account),
                     ctx: Context = Depends(get_ctx)) -> JSONResponse:
    """Create or replace an asset filter."""
    with ctx.session() as s:
        stored = _asset(s, acct, asset)
        row, new = filters.create_or_update(s, acct, stored, name, body)
        return JSONResponse(filters.to_arm(acct, row, stored), status_code=201 if new else 200)


@router.patch(ASSET_FILTERS + "/{name}", openapi_extra=body_schema(MediaFilter))
def patch_asset_filter(asset: str, name: str, body: MediaFilter = Depends(_BODY),
                       acct: AccountRef = Depends(account),
                       ctx: Context = Depends(get_ctx)) -> Body:
    """Update an asset filter."""
    with ctx.session() as s:
        stored = _asset(s, acct, asset)
        return filters.to_arm(acct, filters.update(s, acct, stored, name, body), stored)


@router.delete(ASSET_FILTERS + "/{name}")
def delete_asset_filter(asset: str, name: str, acct: AccountRef = Depends(account),
                        ctx: Context = Depends(get_ctx)) -> Response:
    """Delete an asset filter."""
    with ctx.session() as s:
        return _deleted(filters.delete(s, acct, _asset(s, acct, asset), name))
