"""FastAPI dependencies shared by the management routes: context, auth, body, account."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

# require_token lives in api.auth; re-exported because routes import it from here.
from openvod.api.auth import require_token as require_token
from openvod.api.json_limits import decode_json
from openvod.context import Context
from openvod.services.arm import AccountRef
from openvod.services.repository import account_ref, find_account

ACCOUNT_PREFIX = (
    "/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
    "/providers/Microsoft.Media/mediaservices/{account_name}"
)


def get_ctx(request: Request) -> Context:
    """The process context the app was built with."""
    ctx: Context = request.app.state.ctx
    return ctx


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a clear 400 (see :func:`decode_json`)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    return decode_json(raw)


def account(
    subscription_id: str,
    resource_group: str,
    account_name: str,
    ctx: Context = Depends(get_ctx),
) -> AccountRef:
    """The account the path addresses (handlers open their own transaction)."""
    with ctx.sessions() as session:
        return account_ref(find_account(session, subscription_id, resource_group, account_name))
