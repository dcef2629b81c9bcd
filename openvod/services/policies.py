"""Streaming policies: which protocols a locator serves and how they are encrypted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from openvod.clock import iso
from openvod.errors import ConflictError, InvalidRequestError, NotFoundError
from openvod.resources.streaming_policies import (
    SCHEMES,
    EncryptedScheme,
    StreamingPolicy,
    StreamingPolicyProperties,
    TrackSelection,
)
from openvod.services import content_key_policies as key_policies
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
        # AMS: HLS only under cbcs (FairPlay); DASH and Smooth come from the cenc section.
        "commonEncryptionCbcs": {
            "enabledProtocols": _protocols(False, False, True, False),
            "contentKeys": _key(),
            "drm": {"fairPlay": {"allowPersistentLicense": False}},
        },
    },
}


def _predefined_name(name: str) -> str | None:
    return next((p for p in PREDEFINED if p.lower() == name.lower()), None)


_PREDEFINED_MODELS = {
    name: StreamingPolicyProperties.model_validate(props) for name, props in PREDEFINED.items()
}


def _read_stored(props: dict[str, Any]) -> StreamingPolicyProperties:
    """A stored policy as its model.

    Policies stored before the typed model kept each scheme section as sent;
    if one no longer validates, its enabled protocols (always checked) are kept.
    """
    try:
        return StreamingPolicyProperties.model_validate(props, strict=False)
    except ValidationError:
        kept: dict[str, Any] = {
            scheme: {"enabledProtocols": {p: bool(props[scheme]["enabledProtocols"].get(p))
                                          for p in PROTOCOLS}}
            for scheme in SCHEMES if isinstance(props.get(scheme), dict)
        }
        name = props.get("defaultContentKeyPolicyName")
        if isinstance(name, str):
            kept["defaultContentKeyPolicyName"] = name
        return StreamingPolicyProperties.model_validate(kept)


def get_properties(
    session: Session, account: AccountRef, name: str
) -> tuple[str, StreamingPolicyProperties]:
    """(canonical name, properties) of a predefined or custom policy, or NotFoundError."""
    predefined = _predefined_name(name)
    if predefined is not None:
        return predefined, _PREDEFINED_MODELS[predefined]
    row = get_resource(session, account, KIND, name)
    if row is None:
        raise NotFoundError(f"The streaming policy '{name}' was not found.")
    return row.name, _read_stored(row.properties)


def enabled_protocols(policy: StreamingPolicyProperties) -> dict[str, set[str]]:
    """Scheme section -> the protocols it enables."""
    return policy.enabled_protocols()


def _check_selections(where: str, tracks: list[TrackSelection] | None) -> None:
    """Each selection has conditions, each ``FourCC Equal {value}`` (what AMS evaluates)."""
    for i, selection in enumerate(tracks or []):
        conditions = selection.track_selections or []
        if not conditions:
            raise InvalidRequestError(f"'{where}[{i}].trackSelections' needs a condition.")
        for j, c in enumerate(conditions):
            if c.property != "FourCC" or c.operation != "Equal" or not c.value:
                raise InvalidRequestError(
                    f"'{where}[{i}].trackSelections[{j}]' must be FourCC Equal with a value.")


def check_track_keys(props: StreamingPolicyProperties) -> None:
    """Per-track keys and clear tracks a locator can honour: every ``keyToTrackMappings``
    entry has a label of its own in its section and tracks; selections are FourCC Equal."""
    for scheme, section in props.schemes().items():
        if not isinstance(section, EncryptedScheme):
            continue
        _check_selections(f"properties.{scheme}.clearTracks", section.clear_tracks)
        keys = section.content_keys
        default = keys.default_key if keys else None
        labels = {(default.label if default else None) or ""}
        for i, mapping in enumerate((keys.key_to_track_mappings if keys else None) or []):
            where = f"properties.{scheme}.contentKeys.keyToTrackMappings[{i}]"
            if not mapping.label or mapping.label in labels:
                raise InvalidRequestError(
                    f"'{where}.label' must name a key of its own (not the default key's).")
            labels.add(mapping.label)
            if not mapping.tracks:
                raise InvalidRequestError(f"'{where}.tracks' needs a track selection.")
            _check_selections(f"{where}.tracks", mapping.tracks)


def create(session: Session, account: AccountRef, name: str, body: StreamingPolicy) -> None:
    """Create a custom policy; policies are immutable once created, as in AMS."""
    check_resource_name(name, "streaming policy")
    if _predefined_name(name) or get_resource(session, account, KIND, name) is not None:
        raise ConflictError(f"The streaming policy '{name}' already exists and cannot be updated.")
    props = body.properties
    check_track_keys(props)
    key_policy = key_policies.require_exists(session, account,
                                             props.default_content_key_policy_name)
    stored = props.to_json()
    if key_policy is not None:
        stored["defaultContentKeyPolicyName"] = key_policy
    save_resource(session, account, KIND, name, stored, content_key_policy=key_policy)


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
    body = props.to_json()
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
