"""Streaming policies: which protocols a locator serves and how they are encrypted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from openvod.clock import iso
from openvod.errors import ConflictError, InvalidRequestError, NotFoundError
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.services.repository import (
    get_resource,
    is_referenced,
    list_resources,
    save_resource,
)

KIND = "streamingPolicies"
TYPE = "Microsoft.Media/mediaservices/streamingPolicies"
SCHEMES = ("noEncryption", "envelopeEncryption", "commonEncryptionCenc", "commonEncryptionCbcs")
PROTOCOLS = ("download", "dash", "hls", "smoothStreaming")
# The encryptionScheme values listPaths reports for each policy section.
SCHEME_NAMES = {
    "noEncryption": "NoEncryption",
    "envelopeEncryption": "EnvelopeEncryption",
    "commonEncryptionCenc": "CommonEncryptionCenc",
    "commonEncryptionCbcs": "CommonEncryptionCbcs",
}
_EPOCH = datetime(2018, 1, 1, tzinfo=UTC)


def _protocols(download: bool, dash: bool, hls: bool, smooth: bool) -> dict[str, bool]:
    return {"download": download, "dash": dash, "hls": hls, "smoothStreaming": smooth}


def _key(label: str = "") -> dict[str, Any]:
    return {"defaultKey": {"label": label} if label else {}, "keyToTrackMappings": []}


PREDEFINED: dict[str, dict[str, Any]] = {
    "Predefined_DownloadOnly": {
        "noEncryption": {"enabledProtocols": _protocols(True, False, False, False)}
    },
    "Predefined_ClearStreamingOnly": {
        "noEncryption": {"enabledProtocols": _protocols(False, True, True, True)}
    },
    "Predefined_DownloadAndClearStreaming": {
        "noEncryption": {"enabledProtocols": _protocols(True, True, True, True)}
    },
    "Predefined_ClearKey": {
        "envelopeEncryption": {
            "enabledProtocols": _protocols(False, True, True, True),
            "contentKeys": _key(),
        }
    },
    "Predefined_MultiDrmCencStreaming": {
        "commonEncryptionCenc": {
            "enabledProtocols": _protocols(False, True, False, True),
            "contentKeys": _key(),
            "drm": {"playReady": {}, "widevine": {}},
        }
    },
    "Predefined_MultiDrmStreaming": {
        "commonEncryptionCenc": {
            "enabledProtocols": _protocols(False, True, False, True),
            "contentKeys": _key(),
            "drm": {"playReady": {}, "widevine": {}},
        },
        "commonEncryptionCbcs": {
            "enabledProtocols": _protocols(False, True, True, False),
            "contentKeys": _key(),
            "drm": {"fairPlay": {"allowPersistentLicense": False}},
        },
    },
}


def _predefined_name(name: str) -> str | None:
    return next((p for p in PREDEFINED if p.lower() == name.lower()), None)


def get_properties(session: Session, account: AccountRef, name: str) -> tuple[str, dict[str, Any]]:
    """(canonical name, properties) of a predefined or custom policy, or NotFoundError."""
    predefined = _predefined_name(name)
    if predefined is not None:
        return predefined, PREDEFINED[predefined]
    row = get_resource(session, account, KIND, name)
    if row is None:
        raise NotFoundError(f"The streaming policy '{name}' was not found.")
    return row.name, row.properties


def enabled_protocols(properties: dict[str, Any]) -> dict[str, set[str]]:
    """Scheme section -> the protocols it enables."""
    result: dict[str, set[str]] = {}
    for scheme in SCHEMES:
        section = properties.get(scheme)
        if isinstance(section, dict):
            flags = section.get("enabledProtocols") or {}
            result[scheme] = {p for p in PROTOCOLS if flags.get(p)}
    return result


def _validate(props: dict[str, Any]) -> dict[str, Any]:
    stored: dict[str, Any] = {}
    for scheme in SCHEMES:
        section = props.get(scheme)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise InvalidRequestError(f"'properties.{scheme}' must be an object.")
        flags = section.get("enabledProtocols")
        if not isinstance(flags, dict) or not any(flags.get(p) for p in PROTOCOLS):
            raise InvalidRequestError(
                f"'properties.{scheme}.enabledProtocols' must enable at least one of "
                f"{', '.join(PROTOCOLS)}."
            )
        unknown = set(flags) - set(PROTOCOLS)
        if unknown:
            raise InvalidRequestError(f"Unknown protocols in {scheme}: {sorted(unknown)}.")
        if scheme != "noEncryption" and flags.get("download"):
            raise InvalidRequestError("Download cannot be enabled with encryption.")
        stored[scheme] = section
    if not stored:
        raise InvalidRequestError(
            "A streaming policy needs one of noEncryption, envelopeEncryption, "
            "commonEncryptionCenc or commonEncryptionCbcs."
        )
    if "defaultContentKeyPolicyName" in props:
        stored["defaultContentKeyPolicyName"] = props["defaultContentKeyPolicyName"]
    return stored


def create(session: Session, account: AccountRef, name: str, body: dict[str, Any]) -> None:
    """Create a custom policy; policies are immutable once created, as in AMS."""
    check_resource_name(name, "streaming policy")
    if _predefined_name(name) or get_resource(session, account, KIND, name) is not None:
        raise ConflictError(f"The streaming policy '{name}' already exists and cannot be updated.")
    props = body.get("properties")
    if not isinstance(props, dict):
        raise InvalidRequestError("'properties' must be an object.")
    stored = _validate(props)
    save_resource(
        session, account, KIND, name, stored,
        content_key_policy=stored.get("defaultContentKeyPolicyName"),
    )


def delete(session: Session, account: AccountRef, name: str) -> None:
    """Delete a custom policy not used by any locator."""
    if _predefined_name(name):
        raise InvalidRequestError(f"The predefined policy '{name}' cannot be deleted.")
    row = get_resource(session, account, KIND, name)
    if row is None:
        return
    if is_referenced(session, account, "streamingLocators", streaming_policy=row.name):
        raise ConflictError(f"The streaming policy '{name}' is used by streaming locators.")
    session.delete(row)


def to_arm(account: AccountRef, session: Session, name: str) -> dict[str, Any]:
    """A policy as the SDK's StreamingPolicy model reads it."""
    canonical, props = get_properties(session, account, name)
    row = None if canonical in PREDEFINED else get_resource(session, account, KIND, canonical)
    created = row.created_at if row is not None else _EPOCH
    modified = row.modified_at if row is not None else _EPOCH
    body = dict(props)
    body["created"] = iso(created)
    return envelope(
        arm_id=f"{account.arm_id}/streamingPolicies/{canonical}",
        name=canonical,
        type_=TYPE,
        properties=body,
        created=created,
        modified=modified,
    )


def list_arm(session: Session, account: AccountRef) -> dict[str, Any]:
    """Predefined policies first, then custom ones."""
    names = list(PREDEFINED) + [r.name for r in list_resources(session, account, KIND)]
    return page([to_arm(account, session, n) for n in names])
