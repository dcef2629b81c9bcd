"""Management routes for content key policies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from openvod.api.bodies import body_schema, typed_body
from openvod.api.deps import ACCOUNT_PREFIX, account, get_ctx, require_token
from openvod.context import Context
from openvod.resources.content_key_policies import ContentKeyPolicy, ContentKeyPolicyUpdate
from openvod.services import content_key_policies as key_policies
from openvod.services.arm import AccountRef
from openvod.services.repository import require_resource

router = APIRouter(dependencies=[Depends(require_token)])
P = ACCOUNT_PREFIX + "/contentKeyPolicies"
Body = dict[str, Any]


@router.get(P)
def list_key_policies(
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """List content key policies (without secrets)."""
    with ctx.session() as s:
        return key_policies.list_arm(s, acct)


@router.get(P + "/{name}")
def get_key_policy(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """Get a content key policy (without secrets)."""
    with ctx.session() as s:
        row = require_resource(s, acct, key_policies.KIND, name, key_policies.LABEL)
        return key_policies.to_arm(acct, row)


@router.put(P + "/{name}", openapi_extra=body_schema(ContentKeyPolicy))
def put_key_policy(
    name: str, body: ContentKeyPolicy = Depends(typed_body(ContentKeyPolicy)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> JSONResponse:
    """Create or replace a content key policy."""
    with ctx.session() as s:
        row, created = key_policies.create_or_update(s, acct, name, body, ctx.master_key)
        return JSONResponse(key_policies.to_arm(acct, row), status_code=201 if created else 200)


@router.patch(P + "/{name}", openapi_extra=body_schema(ContentKeyPolicyUpdate))
def patch_key_policy(
    name: str, body: ContentKeyPolicyUpdate = Depends(typed_body(ContentKeyPolicyUpdate)),
    acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx),
) -> Body:
    """Update a content key policy's description or options."""
    with ctx.session() as s:
        return key_policies.to_arm(acct, key_policies.update(s, acct, name, body,
                                                        ctx.master_key))


@router.delete(P + "/{name}")
def delete_key_policy(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Response:
    """Delete a content key policy no locator or streaming policy uses."""
    with ctx.session() as s:
        existed = key_policies.delete(s, acct, name)
    return Response(status_code=200 if existed else 204)


@router.post(P + "/{name}/getPolicyPropertiesWithSecrets")
def key_policy_with_secrets(
    name: str, acct: AccountRef = Depends(account), ctx: Context = Depends(get_ctx)
) -> Body:
    """The policy's properties including key material and passwords."""
    with ctx.session() as s:
        row = require_resource(s, acct, key_policies.KIND, name, key_policies.LABEL)
        return key_policies.properties(row, with_secrets=True, master=ctx.master_key)
