"""Transforms: named recipes (one or more presets) that jobs run."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from openvod.clock import iso
from openvod.db.models import Resource
from openvod.errors import InvalidPresetError, InvalidRequestError
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.services.repository import get_resource, list_resources, save_resource

KIND = "transforms"
TYPE = "Microsoft.Media/mediaservices/transforms"
_ON_ERROR = ("StopProcessingJob", "ContinueJob")
_PRIORITIES = ("Low", "Normal", "High")


def validate_outputs(outputs: Any) -> list[dict[str, Any]]:
    """Check a transform's outputs, including that every preset can be run."""
    from openvod.encoding.presets import parse_preset

    if not isinstance(outputs, list) or not outputs:
        raise InvalidRequestError("'properties.outputs' must be a non-empty list.")
    checked = []
    for index, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("preset"), dict):
            raise InvalidRequestError(f"'properties.outputs[{index}].preset' is required.")
        on_error = output.get("onError") or "StopProcessingJob"
        priority = output.get("relativePriority") or "Normal"
        if on_error not in _ON_ERROR or priority not in _PRIORITIES:
            raise InvalidRequestError(
                f"'properties.outputs[{index}]': onError must be one of {_ON_ERROR} and "
                f"relativePriority one of {_PRIORITIES}."
            )
        try:
            parse_preset(output["preset"])
        except InvalidPresetError as exc:
            raise InvalidPresetError(f"outputs[{index}].preset: {exc.message}") from exc
        checked.append({"onError": on_error, "relativePriority": priority,
                        "preset": output["preset"]})
    return checked


def create_or_update(
    session: Session, account: AccountRef, name: str, body: dict[str, Any]
) -> tuple[Resource, bool]:
    """PUT a transform: create it or replace its description and outputs."""
    check_resource_name(name, "transform")
    props = body.get("properties")
    if not isinstance(props, dict):
        raise InvalidRequestError("'properties' must be an object.")
    stored = {"description": props.get("description"),
              "outputs": validate_outputs(props.get("outputs"))}
    row = get_resource(session, account, KIND, name)
    return save_resource(session, account, KIND, name, stored, existing=row), row is None


def update(session: Session, account: AccountRef, name: str, body: dict[str, Any]) -> Resource:
    """PATCH a transform."""
    from openvod.services.repository import require_resource

    row = require_resource(session, account, KIND, name, "transform")
    props = body.get("properties") or {}
    stored = dict(row.properties)
    if "description" in props:
        stored["description"] = props["description"]
    if "outputs" in props:
        stored["outputs"] = validate_outputs(props["outputs"])
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
