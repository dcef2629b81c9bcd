"""Streaming locators: publish an asset under a policy, with paths for every protocol."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from openvod.clock import iso, parse_iso
from openvod.db.models import Resource
from openvod.errors import ConflictError, InvalidRequestError
from openvod.services import policies
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.services.repository import (
    find_by_uuid,
    get_resource,
    is_referenced,
    list_resources,
    referencing,
    require_resource,
    save_resource,
)
from openvod.storage.store import BlobStore

KIND = "streamingLocators"
TYPE = "Microsoft.Media/mediaservices/streamingLocators"
# Files the origin uses internally and never offers for download.
INTERNAL_SUFFIXES = (".ism", ".ismc", ".mpi", ".ovi")
_FORMATS = {
    "hls": [("Hls", "(format=m3u8-aapl)"), ("Hls", "(format=m3u8-cmaf)")],
    "dash": [("Dash", "(format=mpd-time-csf)"), ("Dash", "(format=mpd-time-cmaf)")],
    "smoothStreaming": [("SmoothStreaming", "")],
}
# The encryption= modifier each scheme adds to manifest URLs, per protocol.
_ENCRYPTION = {
    ("envelopeEncryption", "hls"): "cbc",
    ("envelopeEncryption", "dash"): "cbc",
    ("envelopeEncryption", "smoothStreaming"): "cbc",
    ("commonEncryptionCenc", "dash"): "cenc",
    ("commonEncryptionCenc", "smoothStreaming"): "cenc",
    ("commonEncryptionCbcs", "hls"): "cbcs-aapl",
    ("commonEncryptionCbcs", "dash"): "cbcs",
}
_KEY_TYPES = {
    "envelopeEncryption": "EnvelopeEncryption",
    "commonEncryptionCenc": "CommonEncryptionCenc",
    "commonEncryptionCbcs": "CommonEncryptionCbcs",
}


def create(session: Session, account: AccountRef, name: str, body: dict[str, Any]) -> Resource:
    """Create a locator; locators are immutable, as in AMS."""
    check_resource_name(name, "streaming locator")
    if get_resource(session, account, KIND, name) is not None:
        raise ConflictError(f"The streaming locator '{name}' already exists and cannot be updated.")
    props = body.get("properties")
    if not isinstance(props, dict):
        raise InvalidRequestError("'properties' must be an object.")
    asset_name = props.get("assetName")
    if not isinstance(asset_name, str):
        raise InvalidRequestError("'properties.assetName' is required.")
    asset = require_resource(session, account, "assets", asset_name, "asset")
    policy_name = props.get("streamingPolicyName")
    if not isinstance(policy_name, str):
        raise InvalidRequestError("'properties.streamingPolicyName' is required.")
    policy_name, policy = policies.get_properties(session, account, policy_name)
    start, end = _times(props)
    locator_id = _locator_id(session, props.get("streamingLocatorId"))
    stored = {
        "assetName": asset.name,
        "streamingPolicyName": policy_name,
        "startTime": iso(start) if start else None,
        "endTime": iso(end) if end else None,
        "streamingLocatorId": locator_id,
        "defaultContentKeyPolicyName": props.get("defaultContentKeyPolicyName"),
        "alternativeMediaId": props.get("alternativeMediaId"),
        "filters": list(props.get("filters") or []),
    }
    keys = _content_keys(policy, policy_name, props.get("contentKeys"))
    return save_resource(
        session, account, KIND, name, stored, resource_uuid=locator_id, extra={"keys": keys},
        asset=asset.name, streaming_policy=policy_name,
        content_key_policy=props.get("defaultContentKeyPolicyName"),
    )


def _times(props: dict[str, Any]) -> tuple[Any, Any]:
    try:
        start = parse_iso(props["startTime"]) if props.get("startTime") else None
        end = parse_iso(props["endTime"]) if props.get("endTime") else None
    except (ValueError, TypeError) as exc:
        raise InvalidRequestError("'startTime'/'endTime' must be ISO 8601 times.") from exc
    if start and end and end <= start:
        raise InvalidRequestError("'endTime' must be after 'startTime'.")
    return start, end


def _locator_id(session: Session, requested: Any) -> str:
    if requested is None:
        return str(uuid.uuid4())
    try:
        locator_id = str(uuid.UUID(str(requested)))
    except ValueError as exc:
        raise InvalidRequestError("'streamingLocatorId' must be a GUID.") from exc
    if find_by_uuid(session, KIND, locator_id) is not None:
        raise ConflictError(f"The streaming locator id '{locator_id}' is already in use.")
    return locator_id


def _content_keys(
    policy: dict[str, Any], policy_name: str, requested: Any
) -> list[dict[str, Any]]:
    """One content key per encryption scheme of the policy (none for clear policies)."""
    given = {k.get("labelReferenceInStreamingPolicy", ""): k for k in (requested or [])}
    keys: list[dict[str, Any]] = []
    for scheme, key_type in _KEY_TYPES.items():
        if scheme not in policy:
            continue
        label = ((policy[scheme].get("contentKeys") or {}).get("defaultKey") or {}).get("label")
        chosen = given.get(label or "", {})
        value = chosen.get("value") or base64.b64encode(os.urandom(16)).decode()
        keys.append(
            {
                "id": str(chosen.get("id") or uuid.uuid4()),
                "type": key_type,
                "labelReferenceInStreamingPolicy": label,
                "value": value,
                "policyName": chosen.get("policyName")
                or policy.get("defaultContentKeyPolicyName"),
                "tracks": [],
            }
        )
    return keys


def delete(session: Session, account: AccountRef, name: str) -> None:
    """Delete a locator (idempotent)."""
    row = get_resource(session, account, KIND, name)
    if row is not None:
        session.delete(row)


def to_arm(account: AccountRef, row: Resource) -> dict[str, Any]:
    """A locator as the SDK's StreamingLocator model reads it."""
    props = dict(row.properties)
    props["created"] = iso(row.created_at)
    props["contentKeys"] = [
        {k: v for k, v in key.items() if k != "value"} for key in row.extra.get("keys", [])
    ]
    return envelope(
        arm_id=f"{account.arm_id}/streamingLocators/{row.name}",
        name=row.name,
        type_=TYPE,
        properties=props,
        created=row.created_at,
        modified=row.modified_at,
    )


def list_arm(session: Session, account: AccountRef) -> dict[str, Any]:
    """All locators of an account."""
    return page([to_arm(account, r) for r in list_resources(session, account, KIND)])


def rows_for_asset(session: Session, account: AccountRef, asset_name: str) -> list[Resource]:
    """The locators that publish an asset."""
    return referencing(session, account, KIND, asset=asset_name)


def summaries_for_asset(session: Session, account: AccountRef, asset_name: str) -> dict[str, Any]:
    """``listStreamingLocators`` on an asset."""
    return {
        "streamingLocators": [
            {
                "name": r.name,
                "assetName": r.properties["assetName"],
                "created": iso(r.created_at),
                "startTime": r.properties.get("startTime"),
                "endTime": r.properties.get("endTime"),
                "streamingLocatorId": r.resource_uuid,
                "streamingPolicyName": r.properties["streamingPolicyName"],
                "defaultContentKeyPolicyName": r.properties.get("defaultContentKeyPolicyName"),
            }
            for r in rows_for_asset(session, account, asset_name)
        ]
    }


def policy_in_use(session: Session, account: AccountRef, policy_name: str) -> bool:
    """Whether any locator refers to a policy."""
    return is_referenced(session, account, KIND, streaming_policy=policy_name)


def content_keys(session: Session, account: AccountRef, name: str) -> dict[str, Any]:
    """``listContentKeys``: the locator's keys with their values."""
    row = require_resource(session, account, KIND, name, "streaming locator")
    return {"contentKeys": list(row.extra.get("keys", []))}


def manifest_name(files: list[str]) -> str | None:
    """The name streaming URLs use: the .ism's stem, else the first MP4's stem."""
    for suffix in (".ism", ".mp4"):
        for name in sorted(files):
            if name.lower().endswith(suffix) and "/" not in name:
                return name[: -len(suffix)]
    return None


def paths(
    session: Session, account: AccountRef, name: str, store: BlobStore
) -> dict[str, Any]:
    """``listPaths``: relative streaming paths per enabled protocol, and download paths."""
    row = require_resource(session, account, KIND, name, "streaming locator")
    asset = require_resource(session, account, "assets", row.properties["assetName"], "asset")
    _, policy = policies.get_properties(session, account, row.properties["streamingPolicyName"])
    files = [b.name for b in store.list_blobs(asset.properties["container"])]
    stem = manifest_name(files)
    locator_id = row.resource_uuid
    streaming: list[dict[str, Any]] = []
    download: list[str] = []
    for scheme, protocols in policies.enabled_protocols(policy).items():
        for protocol in ("hls", "dash", "smoothStreaming"):
            if protocol not in protocols or stem is None:
                continue
            encryption = _ENCRYPTION.get((scheme, protocol))
            items = []
            for _, fmt in _FORMATS[protocol]:
                modifier = fmt
                if encryption:
                    modifier = f"({fmt[1:-1]},encryption={encryption})" if fmt else (
                        f"(encryption={encryption})"
                    )
                items.append(f"/{locator_id}/{quote(stem)}.ism/manifest{modifier}")
            streaming.append(
                {
                    "streamingProtocol": _FORMATS[protocol][0][0],
                    "encryptionScheme": policies.SCHEME_NAMES[scheme],
                    "paths": items,
                }
            )
        if "download" in protocols:
            download = [
                f"/{locator_id}/{quote(f)}"
                for f in sorted(files)
                if not f.lower().endswith(INTERNAL_SUFFIXES)
            ]
    return {"streamingPaths": streaming, "downloadPaths": download}
