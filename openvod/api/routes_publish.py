"""Management routes for streaming policies, locators and endpoints (with ARM LROs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from openvod.api.bodies import body_schema, typed_body
from openvod.api.deps import ACCOUNT_PREFIX, account, get_ctx, require_token
from openvod.context import Context
from openvod.resources.actions import (
    AsyncOperationResult,
    ListContentKeysResponse,
    ListPathsResponse,
)
from openvod.resources.endpoints import StreamingEndpoint, StreamingEntityScaleUnit
from openvod.resources.locators import StreamingLocator
from openvod.resources.streaming_policies import StreamingPolicy
from openvod.services import endpoints, locators, policies
from openvod.services.arm import AccountRef
from openvod.services.repository import require_resource

router = APIRouter(dependencies=[Depends(require_token)])
P = ACCOUNT_PREFIX
Body = dict[str, Any]


# --- streaming policies ---------------------------------------------------------------
@router.get(P + "/streamingPolicies")
def list_policies(acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)) -> Body:
    """The predefined policies and the account's own."""
    with ctx.session() as s:
        return policies.list_arm(s, acct)


@router.get(P + "/streamingPolicies/{name}")
def get_policy(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """Get a policy."""
    with ctx.session() as s:
        return policies.to_arm(acct, s, name)


@router.put(P + "/streamingPolicies/{name}", openapi_extra=body_schema(StreamingPolicy))
def put_policy(
    name: str, body: StreamingPolicy = Depends(typed_body(StreamingPolicy)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> JSONResponse:
    """Create a custom policy."""
    with ctx.session() as s:
        policies.create(s, acct, name, body)
        return JSONResponse(policies.to_arm(acct, s, name), status_code=201)


@router.delete(P + "/streamingPolicies/{name}")
def delete_policy(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Response:
    """Delete a custom policy."""
    with ctx.session() as s:
        policies.delete(s, acct, name)
    return Response(status_code=200)


# --- streaming locators ---------------------------------------------------------------
@router.get(P + "/streamingLocators")
def list_locators(acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)) -> Body:
    """List locators."""
    with ctx.session() as s:
        return locators.list_arm(s, acct)


@router.get(P + "/streamingLocators/{name}")
def get_locator(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """Get a locator."""
    with ctx.session() as s:
        row = require_resource(s, acct, locators.KIND, name, "streaming locator")
        return locators.to_arm(acct, row)


@router.put(P + "/streamingLocators/{name}", openapi_extra=body_schema(StreamingLocator))
def put_locator(
    name: str, body: StreamingLocator = Depends(typed_body(StreamingLocator)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> JSONResponse:
    """Publish an asset."""
    with ctx.session() as s:
        row = locators.create(s, acct, name, body, ctx.master_key)
        return JSONResponse(locators.to_arm(acct, row), status_code=201)


@router.delete(P + "/streamingLocators/{name}")
def delete_locator(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Response:
    """Unpublish."""
    with ctx.session() as s:
        locators.delete(s, acct, name)
    return Response(status_code=200)


@router.post(P + "/streamingLocators/{name}/listPaths")
def list_paths(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> ListPathsResponse:
    """Streaming and download paths of a locator."""
    with ctx.session() as s:
        return locators.paths(s, acct, name, ctx.store)


@router.post(P + "/streamingLocators/{name}/listContentKeys")
def list_content_keys(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> ListContentKeysResponse:
    """The content keys of a locator (none for clear policies)."""
    with ctx.session() as s:
        return locators.content_keys(s, acct, name, ctx.master_key)


# --- streaming endpoints --------------------------------------------------------------
def _accepted(request: Request, acct: AccountRef, op_id: str, status: int, body: Any = None,
              ) -> Response:
    """A response that makes the SDK's ARMPolling poll the operation as ARM does."""
    base = str(request.base_url).rstrip("/")
    api_version = request.query_params.get("api-version", "2022-08-01")
    headers = {
        "Azure-AsyncOperation": f"{base}{acct.arm_id}/streamingEndpointOperations/{op_id}"
        f"?api-version={api_version}",
        "Retry-After": "0",
    }
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


@router.get(P + "/streamingEndpoints")
def list_endpoints(acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)) -> Body:
    """List endpoints."""
    with ctx.session() as s:
        return endpoints.list_arm(s, acct, ctx.endpoint_host_name)


@router.get(P + "/streamingEndpoints/{name}")
def get_endpoint(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """Get an endpoint."""
    with ctx.session() as s:
        row = require_resource(s, acct, endpoints.KIND, name, "streaming endpoint")
        return endpoints.to_arm(acct, row, ctx.endpoint_host_name)


@router.put(P + "/streamingEndpoints/{name}", openapi_extra=body_schema(StreamingEndpoint))
def put_endpoint(
    name: str, request: Request, body: StreamingEndpoint = Depends(typed_body(StreamingEndpoint)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Response:
    """Create an endpoint (an LRO; ``autoStart=true`` starts it)."""
    auto_start = request.query_params.get("autoStart", "false").lower() == "true"
    with ctx.session() as s:
        row = endpoints.create(s, acct, name, body, auto_start)
        op = endpoints.record_operation(s, acct, row.name)
        doc = endpoints.to_arm(acct, row, ctx.endpoint_host_name)
        return _accepted(request, acct, op.id, 201, doc)


@router.patch(P + "/streamingEndpoints/{name}", openapi_extra=body_schema(StreamingEndpoint))
def patch_endpoint(
    name: str, request: Request, body: StreamingEndpoint = Depends(typed_body(StreamingEndpoint)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Response:
    """Update an endpoint (an LRO)."""
    with ctx.session() as s:
        row = endpoints.update(s, acct, name, body)
        op = endpoints.record_operation(s, acct, row.name)
        doc = endpoints.to_arm(acct, row, ctx.endpoint_host_name)
        return _accepted(request, acct, op.id, 202, doc)


@router.delete(P + "/streamingEndpoints/{name}")
def delete_endpoint(
    name: str, request: Request,
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Response:
    """Delete a stopped endpoint (an LRO)."""
    with ctx.session() as s:
        endpoints.delete(s, acct, name)
        op = endpoints.record_operation(s, acct, name)
        return _accepted(request, acct, op.id, 202)


def _transition(request: Request, acct: AccountRef, ctx: Context, name: str,
                state: str | None, body: StreamingEntityScaleUnit | None = None) -> Response:
    with ctx.session() as s:
        if body is not None:
            row = endpoints.scale(s, acct, name, body)
        else:
            row = endpoints.set_state(s, acct, name, state or "Stopped")
        op = endpoints.record_operation(s, acct, row.name)
        return _accepted(request, acct, op.id, 202)


@router.post(P + "/streamingEndpoints/{name}/start")
def start_endpoint(
    name: str, request: Request,
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Response:
    """Start serving (an LRO)."""
    return _transition(request, acct, ctx, name, "Running")


@router.post(P + "/streamingEndpoints/{name}/stop")
def stop_endpoint(
    name: str, request: Request,
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Response:
    """Stop serving (an LRO)."""
    return _transition(request, acct, ctx, name, "Stopped")


@router.post(P + "/streamingEndpoints/{name}/scale",
             openapi_extra=body_schema(StreamingEntityScaleUnit))
def scale_endpoint(
    name: str, request: Request,
    body: StreamingEntityScaleUnit = Depends(typed_body(StreamingEntityScaleUnit)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Response:
    """Change scale units (an LRO)."""
    return _transition(request, acct, ctx, name, None, body)


@router.get(P + "/streamingEndpointOperations/{op_id}", response_model_exclude_none=True)
def endpoint_operation(
    op_id: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> AsyncOperationResult:
    """The status of an endpoint operation, as ARM pollers read it."""
    with ctx.session() as s:
        return endpoints.operation_status(s, acct, op_id)
