"""Routes of indexing: in-video search (openvod's extension) and asset tracks (AMS v3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from openvod.api.bodies import body_schema, typed_body
from openvod.api.deps import ACCOUNT_PREFIX, account, get_ctx, require_token
from openvod.context import Context
from openvod.resources.tracks import AssetTrack
from openvod.services import assets, endpoints, search, tracks
from openvod.services.arm import AccountRef
from openvod.services.playback import playback_url
from openvod.services.repository import require_resource

router = APIRouter(dependencies=[Depends(require_token)])
P = ACCOUNT_PREFIX
T = P + "/assets/{asset}/tracks"
Body = dict[str, Any]


# --- search ---------------------------------------------------------------------------
@router.get(P + "/search")
def search_assets(
    query: str = Query(..., description='words and "quoted phrases"; all must occur'),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Body:
    """Find words and phrases in the transcripts and keywords of the account's indexed assets."""
    with ctx.session() as s:
        found = search.search(s, acct.id, query)
        results = []
        for item in found:
            if assets.get_resource(s, acct, assets.KIND, item.asset_name) is None:
                continue  # deleted since it was indexed
            first = item.matches[0]
            url = playback_url(s, acct, ctx.store, ctx.settings.resolved_public_url,
                               [item.asset_name, item.source_asset_name], first.start_ms)
            results.append({
                "assetName": item.asset_name,
                "searchMatches": [
                    {"startTime": search.clock(m.start_ms), "endTime": search.clock(m.end_ms),
                     "type": m.kind, "text": m.text}
                    for m in item.matches
                ],
                "playbackUrl": url,
            })
    return {"results": results}


# --- tracks ---------------------------------------------------------------------------
def _container(ctx: Context, acct: AccountRef, asset: str) -> tuple[str, str]:
    """(the asset's name as stored, its container); NotFoundError for an unknown asset."""
    with ctx.session() as s:
        row = require_resource(s, acct, assets.KIND, asset, "asset")
        return row.name, row.properties["container"]


def _accepted(request: Request, ctx: Context, acct: AccountRef, asset: str, name: str,
              status: int, body: Body | None = None) -> Response:
    """A finished operation answered as ARM's long-running ones (the SDK polls it once)."""
    with ctx.session() as s:
        op = endpoints.record_operation(s, acct, f"{asset}/{name}")
    base = str(request.base_url).rstrip("/")
    api_version = request.query_params.get("api-version", "2022-08-01")
    url = f"{base}{acct.arm_id}/assets/{asset}/tracks/{name}/operationStatuses/{op.id}"
    headers = {"Azure-AsyncOperation": f"{url}?api-version={api_version}",
               "Location": f"{base}{acct.arm_id}/assets/{asset}/tracks/{name}"
                           f"?api-version={api_version}",
               "Retry-After": "0"}
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


@router.get(T)
def list_tracks(asset: str, acct: AccountRef = Depends(account),
                ctx: Context = Depends(get_ctx)) -> Body:
    """List an asset's tracks."""
    name, container = _container(ctx, acct, asset)
    return tracks.list_arm(acct, name, ctx.store, container)


@router.get(T + "/{track}")
def get_track(asset: str, track: str, acct: AccountRef = Depends(account),
              ctx: Context = Depends(get_ctx)) -> Body:
    """Get a track."""
    name, container = _container(ctx, acct, asset)
    return tracks.to_arm(acct, name, tracks.get(ctx.store, container, name, track))


@router.put(T + "/{track}", openapi_extra=body_schema(AssetTrack))
def put_track(asset: str, track: str, body: AssetTrack = Depends(typed_body(AssetTrack)),
              acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)) -> Response:
    """Create or replace a text track (a .vtt or .ttml file of the asset)."""
    name, container = _container(ctx, acct, asset)
    stored, created = tracks.create_or_update(ctx.store, container, name, track, body)
    return JSONResponse(tracks.to_arm(acct, name, stored), status_code=201 if created else 200)


@router.patch(T + "/{track}", openapi_extra=body_schema(AssetTrack))
def patch_track(asset: str, track: str, request: Request,
                body: AssetTrack = Depends(typed_body(AssetTrack)),
                acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)) -> Response:
    """Update a track (an LRO, complete when answered)."""
    name, container = _container(ctx, acct, asset)
    stored = tracks.update(ctx.store, container, name, track, body)
    return _accepted(request, ctx, acct, name, stored["name"], 202,
                     tracks.to_arm(acct, name, stored))


@router.delete(T + "/{track}")
def delete_track(asset: str, track: str, request: Request, acct: AccountRef = Depends(account),
                 ctx: Context = Depends(get_ctx)) -> Response:
    """Delete a track; its file stays in the asset (204 when there was none)."""
    name, container = _container(ctx, acct, asset)
    if not tracks.delete(ctx.store, container, track):
        return Response(status_code=204)
    return _accepted(request, ctx, acct, name, track, 202)


@router.post(T + "/{track}/updateTrackData")
def update_track_data(asset: str, track: str, request: Request,
                      acct: AccountRef = Depends(account),
                      ctx: Context = Depends(get_ctx)) -> Response:
    """The track's file was replaced: check it and stream the new text (an LRO)."""
    name, container = _container(ctx, acct, asset)
    tracks.update_track_data(ctx.store, container, name, track)
    return _accepted(request, ctx, acct, name, track, 202)


@router.get(T + "/{track}/operationStatuses/{op_id}", response_model_exclude_none=True)
def track_operation(asset: str, track: str, op_id: str, acct: AccountRef = Depends(account),
                    ctx: Context = Depends(get_ctx)) -> Body:
    """The status of a track operation, as ARM pollers read it."""
    with ctx.session() as s:
        result = endpoints.operation_status(s, acct, op_id)
    return result.model_dump(by_alias=True, exclude_none=True, mode="json")
