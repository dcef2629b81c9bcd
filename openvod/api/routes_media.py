"""Management routes for accounts, assets, transforms and jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from openvod.api.bodies import body_schema, typed_body
from openvod.api.deps import ACCOUNT_PREFIX, account, get_ctx, require_token
from openvod.context import Context
from openvod.errors import StorageError
from openvod.resources.accounts import MediaService
from openvod.resources.actions import ListContainerSasResponse, ListStreamingLocatorsResponse
from openvod.resources.assets import Asset, ListContainerSasInput
from openvod.resources.jobs import Job, JobUpdate
from openvod.resources.transforms import Transform, TransformUpdate
from openvod.services import accounts, assets, jobs, locators, storage_encryption, transforms
from openvod.services.arm import AccountRef, page
from openvod.services.repository import account_ref, find_account, require_resource
from openvod.services.tokens import Grant

router = APIRouter(dependencies=[Depends(require_token)])
P = ACCOUNT_PREFIX
Body = dict[str, Any]


def _created(doc: Body, created: bool) -> JSONResponse:
    return JSONResponse(doc, status_code=201 if created else 200)


# --- accounts -------------------------------------------------------------------------
@router.put(P, openapi_extra=body_schema(MediaService))
def put_account(
    subscription_id: str, resource_group: str, account_name: str,
    body: MediaService = Depends(typed_body(MediaService)), ctx: Context = Depends(get_ctx),
) -> JSONResponse:
    """Create or update a media services account (the SDK polls it as an LRO)."""
    with ctx.session() as s:
        row, created = accounts.create_or_update(
            s, subscription_id, resource_group, account_name, body,
            storage_account_name=ctx.settings.storage_account_name,
        )
        return _created(accounts.to_arm(row), created)


@router.patch(P, openapi_extra=body_schema(MediaService))
def patch_account(
    subscription_id: str, resource_group: str, account_name: str, request: Request,
    body: MediaService = Depends(typed_body(MediaService)), ctx: Context = Depends(get_ctx),
) -> JSONResponse:
    """Update an account's tags or properties (202; the SDK polls the account's own URL)."""
    with ctx.session() as s:
        row = find_account(s, subscription_id, resource_group, account_name)
        doc = accounts.to_arm(accounts.update(
            s, row, body, storage_account_name=ctx.settings.storage_account_name))
    api_version = request.query_params.get("api-version", "2023-01-01")
    location = f"{str(request.base_url).rstrip('/')}{doc['id']}?api-version={api_version}"
    return JSONResponse(doc, status_code=202, headers={"Location": location, "Retry-After": "0"})


@router.get(P)
def get_account(
    subscription_id: str, resource_group: str, account_name: str, ctx: Context = Depends(get_ctx)
) -> Body:
    """Get an account."""
    with ctx.session() as s:
        return accounts.to_arm(find_account(s, subscription_id, resource_group, account_name))


@router.get("/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            "/providers/Microsoft.Media/mediaservices")
def list_accounts(
    subscription_id: str, resource_group: str, ctx: Context = Depends(get_ctx),
    grant: Grant = Depends(require_token),
) -> Body:
    """List the accounts of a resource group (those the token may see)."""
    with ctx.session() as s:
        return accounts.list_accounts(s, subscription_id, resource_group, visible=grant.accounts)


@router.get("/subscriptions/{subscription_id}/providers/Microsoft.Media/mediaservices")
def list_subscription_accounts(
    subscription_id: str, ctx: Context = Depends(get_ctx), grant: Grant = Depends(require_token)
) -> Body:
    """List the accounts of a subscription, across resource groups (those the token may see)."""
    with ctx.session() as s:
        return accounts.list_accounts(s, subscription_id, None, visible=grant.accounts)


@router.delete(P)
def delete_account(
    subscription_id: str, resource_group: str, account_name: str, ctx: Context = Depends(get_ctx)
) -> Response:
    """Delete an account and everything in it (files once the rows are gone)."""
    with ctx.session() as s:
        row = find_account(s, subscription_id, resource_group, account_name)
        ref = account_ref(row)
        containers = [assets.delete(s, ref, r.name) for r in assets.list_rows(s, ref)]
        s.delete(row)
    for container in containers:
        if container is not None:
            ctx.store.delete_container(container)
    return Response(status_code=200)


# --- assets ---------------------------------------------------------------------------
@router.get(P + "/assets")
def list_assets(acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)) -> Body:
    """List assets."""
    with ctx.session() as s:
        return page(assets.list_arm(s, acct))


@router.get(P + "/assets/{name}")
def get_asset(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """Get an asset."""
    with ctx.session() as s:
        return assets.to_arm(acct, require_resource(s, acct, assets.KIND, name, "asset"))


@router.put(P + "/assets/{name}", openapi_extra=body_schema(Asset))
def put_asset(
    name: str, body: Asset = Depends(typed_body(Asset)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> JSONResponse:
    """Create or update an asset; a new asset gets its blob container once it is stored."""
    with ctx.session() as s:
        row, created = assets.create_or_update(
            s, acct, name, body, storage_account_name=ctx.settings.storage_account_name,
            master_key=ctx.master_key, storage_encryption=ctx.settings.storage_encryption,
        )
        doc = assets.to_arm(acct, row)
    if created:
        if ctx.container_keys is not None:
            ctx.container_keys.forget(doc["properties"]["container"])
        _provision(ctx, acct, name, doc["properties"]["container"])
    return _created(doc, created)


def _provision(ctx: Context, acct: AccountRef, name: str, container: str) -> None:
    """Make a committed asset's container; if that fails, the asset goes too."""
    try:
        assets.provision_container(ctx.store, container)
    except BaseException as exc:
        with ctx.session() as s:
            row = assets.get_resource(s, acct, assets.KIND, name)
            if row is not None:
                s.delete(row)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise StorageError(f"The container of asset '{name}' could not be made.") from exc
        raise


@router.patch(P + "/assets/{name}", openapi_extra=body_schema(Asset))
def patch_asset(
    name: str, body: Asset = Depends(typed_body(Asset)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Body:
    """Update an asset's description or alternateId."""
    with ctx.session() as s:
        return assets.to_arm(acct, assets.update(s, acct, name, body))


@router.delete(P + "/assets/{name}")
def delete_asset(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Response:
    """Delete an asset and its locators, then its files."""
    with ctx.session() as s:
        container = assets.delete(s, acct, name)
    if container is not None:
        ctx.store.delete_container(container)
    return Response(status_code=200 if container is not None else 204)


@router.post(P + "/assets/{name}/listContainerSas",
             openapi_extra=body_schema(ListContainerSasInput))
def list_container_sas(
    name: str, body: ListContainerSasInput = Depends(typed_body(ListContainerSasInput)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> ListContainerSasResponse:
    """Signed, expiring URLs of the asset's container."""
    with ctx.session() as s:
        return assets.container_sas_urls(
            s, acct, name, body,
            blob_base_url=ctx.settings.resolved_blob_public_url,
            storage_account_name=ctx.settings.storage_account_name,
            storage_key=ctx.storage_key,
            max_hours=ctx.settings.sas_max_hours,
        )


@router.post(P + "/assets/{name}/getEncryptionKey")
def get_encryption_key(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """The storage encryption key and file IVs of an encrypted asset (400 for a clear one)."""
    raw = getattr(ctx.store, "raw", ctx.store)
    with ctx.session() as s:
        return storage_encryption.encryption_key_data(s, acct, name, ctx.master_key, raw)


@router.post(P + "/assets/{name}/listStreamingLocators")
def list_asset_locators(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> ListStreamingLocatorsResponse:
    """The locators publishing an asset."""
    with ctx.session() as s:
        row = require_resource(s, acct, assets.KIND, name, "asset")
        return locators.summaries_for_asset(s, acct, row.name)


# --- transforms -----------------------------------------------------------------------
@router.get(P + "/transforms")
def list_transforms(acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)) -> Body:
    """List transforms."""
    with ctx.session() as s:
        return transforms.list_arm(s, acct)


@router.get(P + "/transforms/{name}")
def get_transform(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """Get a transform."""
    with ctx.session() as s:
        row = require_resource(s, acct, transforms.KIND, name, "transform")
        return transforms.to_arm(acct, row)


@router.put(P + "/transforms/{name}", openapi_extra=body_schema(Transform))
def put_transform(
    name: str, body: Transform = Depends(typed_body(Transform)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> JSONResponse:
    """Create or replace a transform; presets are validated now, not at job time."""
    with ctx.session() as s:
        row, created = transforms.create_or_update(s, acct, name, body)
        return _created(transforms.to_arm(acct, row), created)


@router.patch(P + "/transforms/{name}", openapi_extra=body_schema(TransformUpdate))
def patch_transform(
    name: str, body: TransformUpdate = Depends(typed_body(TransformUpdate)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Body:
    """Update a transform."""
    with ctx.session() as s:
        return transforms.to_arm(acct, transforms.update(s, acct, name, body))


@router.delete(P + "/transforms/{name}")
def delete_transform(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Response:
    """Delete a transform and its jobs."""
    with ctx.session() as s:
        transforms.delete(s, acct, name)
    return Response(status_code=200)


# --- jobs -----------------------------------------------------------------------------
@router.get(P + "/transforms/{transform}/jobs")
def list_jobs(
    transform: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """List a transform's jobs."""
    with ctx.session() as s:
        return jobs.list_arm(s, acct, transform)


@router.get(P + "/transforms/{transform}/jobs/{name}")
def get_job(
    transform: str, name: str,
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Body:
    """Get a job with its state and per-output progress."""
    with ctx.session() as s:
        return jobs.to_arm(acct, jobs.require(s, acct, transform, name))


@router.put(P + "/transforms/{transform}/jobs/{name}", openapi_extra=body_schema(Job))
def put_job(
    transform: str, name: str, body: Job = Depends(typed_body(Job)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> JSONResponse:
    """Submit a job."""
    with ctx.session() as s:
        job = jobs.create(
            s, acct, transform, name, body,
            allowed_hosts=ctx.settings.http_input_allowed_hosts,
        )
        return _created(jobs.to_arm(acct, job), True)


@router.patch(P + "/transforms/{transform}/jobs/{name}", openapi_extra=body_schema(JobUpdate))
def patch_job(
    transform: str, name: str, body: JobUpdate = Depends(typed_body(JobUpdate)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Body:
    """Update a job's description or priority."""
    with ctx.session() as s:
        return jobs.to_arm(acct, jobs.update(s, acct, transform, name, body))


@router.delete(P + "/transforms/{transform}/jobs/{name}")
def delete_job(
    transform: str, name: str,
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Response:
    """Delete a job."""
    with ctx.session() as s:
        jobs.delete(s, acct, transform, name)
    return Response(status_code=200)


@router.post(P + "/transforms/{transform}/jobs/{name}/cancelJob")
def cancel_job(
    transform: str, name: str,
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Response:
    """Cancel a job."""
    with ctx.session() as s:
        jobs.cancel(s, acct, transform, name)
    return Response(status_code=200)
