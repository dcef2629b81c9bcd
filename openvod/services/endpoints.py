"""Streaming endpoints: the origin's on/off switch, with ARM long-running operations."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from openvod.clock import iso, utcnow
from openvod.db.models import Operation, Resource
from openvod.errors import ConflictError, NotFoundError
from openvod.resources.actions import AsyncOperationResult
from openvod.resources.endpoints import StreamingEndpoint, StreamingEntityScaleUnit
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_endpoint_name
from openvod.services.repository import (
    get_resource,
    list_resources,
    require_resource,
    save_resource,
)

KIND = "streamingEndpoints"
TYPE = "Microsoft.Media/mediaservices/streamingendpoints"
DEFAULT_NAME = "default"
_SETTABLE = (
    "description",
    "scaleUnits",
    "availabilitySetName",
    "accessControl",
    "maxCacheAge",
    "customHostNames",
    "cdnEnabled",
    "cdnProvider",
    "cdnProfile",
    "crossSiteAccessPolicies",
)


def create_default(session: Session, account: AccountRef) -> Resource:
    """The ``default`` endpoint every account has, Stopped."""
    props = {"description": "Default streaming endpoint", "scaleUnits": 0, "maxCacheAge": None}
    return _create(session, account, DEFAULT_NAME, props, {"location": account.location})


def _create(
    session: Session,
    account: AccountRef,
    name: str,
    props: dict[str, Any],
    extra: dict[str, Any],
    running: bool = False,
) -> Resource:
    stored = {k: props.get(k) for k in _SETTABLE}
    stored["scaleUnits"] = int(stored.get("scaleUnits") or 0)
    stored["customHostNames"] = list(stored.get("customHostNames") or [])
    stored["cdnEnabled"] = bool(stored.get("cdnEnabled") or False)
    stored["resourceState"] = "Running" if running else "Stopped"
    return save_resource(session, account, KIND, name, stored, extra=extra)


def create(
    session: Session, account: AccountRef, name: str, body: StreamingEndpoint, auto_start: bool
) -> Resource:
    """Create an endpoint (PUT); optionally started, as ``autoStart=true`` asks."""
    check_endpoint_name(name)
    if get_resource(session, account, KIND, name) is not None:
        raise ConflictError(f"The streaming endpoint '{name}' already exists.")
    extra: dict[str, Any] = {"location": body.location or account.location,
                             "tags": dict(body.tags or {})}
    if body.sku is not None:
        extra["sku"] = body.sku.to_json()
    props = body.props.to_json()
    return _create(session, account, name, props, extra, running=auto_start)


def update(session: Session, account: AccountRef, name: str, body: StreamingEndpoint) -> Resource:
    """Update the settable properties that were sent (PATCH)."""
    row = require_resource(session, account, KIND, name, "streaming endpoint")
    props = dict(row.properties)
    props.update(body.props.model_dump(
        mode="json", by_alias=True, include=body.props.model_fields_set))
    extra = dict(row.extra)
    if "tags" in body.model_fields_set:
        extra["tags"] = dict(body.tags or {})
    if body.sku is not None:
        extra["sku"] = body.sku.to_json()
    return save_resource(session, account, KIND, name, props, extra=extra, existing=row)


def set_state(session: Session, account: AccountRef, name: str, state: str) -> Resource:
    """Move an endpoint to Running or Stopped (the start/stop operations)."""
    row = require_resource(session, account, KIND, name, "streaming endpoint")
    props = dict(row.properties)
    props["resourceState"] = state
    return save_resource(session, account, KIND, name, props, existing=row)


def scale(
    session: Session, account: AccountRef, name: str, body: StreamingEntityScaleUnit
) -> Resource:
    """Change the scale units (the scale operation)."""
    units = body.scale_unit
    row = require_resource(session, account, KIND, name, "streaming endpoint")
    props = dict(row.properties)
    props["scaleUnits"] = units
    return save_resource(session, account, KIND, name, props, existing=row)


def delete(session: Session, account: AccountRef, name: str) -> None:
    """Delete an endpoint; a running one must be stopped first, as in AMS."""
    row = require_resource(session, account, KIND, name, "streaming endpoint")
    if row.properties.get("resourceState") == "Running":
        raise ConflictError(f"The streaming endpoint '{name}' is running; stop it first.")
    session.delete(row)


def to_arm(account: AccountRef, row: Resource, host_name: str) -> dict[str, Any]:
    """The endpoint as the SDK's StreamingEndpoint model reads it."""
    props = dict(row.properties)
    props.update(
        {
            "hostName": host_name,
            "provisioningState": "Succeeded",
            "created": iso(row.created_at),
            "lastModified": iso(row.modified_at),
        }
    )
    extra = {"location": row.extra.get("location", account.location), "tags": {}}
    extra.update({k: v for k, v in row.extra.items() if k in ("tags", "sku")})
    return envelope(
        arm_id=f"{account.arm_id}/streamingendpoints/{row.name}",
        name=row.name,
        type_=TYPE,
        properties=props,
        created=row.created_at,
        modified=row.modified_at,
        extra=extra,
    )


def list_arm(session: Session, account: AccountRef, host_name: str) -> dict[str, Any]:
    """All endpoints of an account."""
    return page([to_arm(account, r, host_name) for r in list_resources(session, account, KIND)])


def is_any_running(session: Session, account: AccountRef) -> bool:
    """Whether the origin may serve this account's content."""
    return any(
        r.properties.get("resourceState") == "Running"
        for r in list_resources(session, account, KIND)
    )


def record_operation(session: Session, account: AccountRef, target: str) -> Operation:
    """A finished ARM async operation for a state change that completed at once."""
    now = utcnow()
    op = Operation(
        id=str(uuid.uuid4()),
        account_id=account.id,
        status="Succeeded",
        target=target,
        error={},
        created_at=now,
        finished_at=now,
    )
    session.add(op)
    session.flush()
    return op


def operation_status(
    session: Session, account: AccountRef, operation_id: str
) -> AsyncOperationResult:
    """The AsyncOperationResult body pollers read."""
    op = session.get(Operation, operation_id)
    if op is None or op.account_id != account.id:
        raise NotFoundError(f"The operation '{operation_id}' was not found.")
    return AsyncOperationResult.model_validate({
        "name": op.id, "status": op.status, "startTime": iso(op.created_at),
        "endTime": iso(op.finished_at), "error": op.error or None,
    })
