"""Transforms: named recipes (one or more presets) that jobs run."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openvod.clock import iso
from openvod.db.models import Resource
from openvod.resources.transforms import Transform, TransformOutput, TransformUpdate
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.services.repository import (
    get_resource,
    list_resources,
    require_resource,
    save_resource,
)

KIND = "transforms"
TYPE = "Microsoft.Media/mediaservices/transforms"


def _stored_outputs(outputs: list[TransformOutput]) -> list[dict[str, Any]]:
    # onError and relativePriority carry their defaults, so readers never guess them.
    return [output.to_json() for output in outputs]


def create_or_update(
    session: Session, account: AccountRef, name: str, body: Transform
) -> tuple[Resource, bool]:
    """PUT a transform: create it or replace its description and outputs."""
    check_resource_name(name, "transform")
    stored = {
        "description": body.properties.description,
        "outputs": _stored_outputs(body.properties.outputs),
    }
    row = get_resource(session, account, KIND, name)
    return save_resource(session, account, KIND, name, stored, existing=row), row is None


def update(session: Session, account: AccountRef, name: str, body: TransformUpdate) -> Resource:
    """PATCH a transform: the properties sent replace the stored ones."""
    row = require_resource(session, account, KIND, name, "transform")
    props = body.properties
    stored = dict(row.properties)
    if "description" in props.model_fields_set:
        stored["description"] = props.description
    if props.outputs is not None:
        stored["outputs"] = _stored_outputs(props.outputs)
    return save_resource(session, account, KIND, name, stored, existing=row)


def delete(session: Session, account: AccountRef, name: str) -> None:
    """Delete a transform and its jobs (running ones are canceled by the worker)."""
    from openvod.services import jobs

    row = get_resource(session, account, KIND, name)
    if row is None:
        return
    jobs.delete_all(session, account, row.name)
    session.delete(row)


def to_arm(account: AccountRef, row: Resource) -> dict[str, Any]:
    """A transform as the SDK's Transform model reads it."""
    props = dict(row.properties)
    props["created"] = iso(row.created_at)
    props["lastModified"] = iso(row.modified_at)
    return envelope(
        arm_id=f"{account.arm_id}/transforms/{row.name}",
        name=row.name,
        type_=TYPE,
        properties=props,
        created=row.created_at,
        modified=row.modified_at,
    )


def list_arm(session: Session, account: AccountRef) -> dict[str, Any]:
    """All transforms of an account."""
    return page([to_arm(account, r) for r in list_resources(session, account, KIND)])
