"""Streaming locators: publish an asset under a policy, with paths for every protocol."""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from openvod.clock import iso
from openvod.db.models import LocatorContentKey, Resource
from openvod.errors import ConflictError, InvalidRequestError
from openvod.keys.content_keys import stored_locator_keys, wrap_key_entry
from openvod.keys.master import MasterKey
from openvod.resources.actions import (
    AssetStreamingLocator,
    ListContentKeysResponse,
    ListPathsResponse,
    ListStreamingLocatorsResponse,
    StreamingPath,
)
from openvod.resources.locators import StreamingLocator, StreamingLocatorContentKey
from openvod.resources.streaming_policies import EncryptedScheme, StreamingPolicyProperties
from openvod.services import content_key_policies as key_policies
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
# What the origin can package under each encrypting scheme (the rest answers 400 there,
# so listPaths leaves it out): AES-128 envelope is HLS only; CENC 'cenc' is DASH and
# Smooth (PIFF 1.1, PlayReady header); 'cbcs' is HLS SAMPLE-AES (TS and fMP4) and DASH.
_SERVED_FORMATS: dict[tuple[str, str], frozenset[str]] = {
    ("envelopeEncryption", "hls"): frozenset({"(format=m3u8-aapl)", "(format=m3u8-cmaf)"}),
    ("commonEncryptionCenc", "dash"): frozenset({"(format=mpd-time-csf)",
                                                 "(format=mpd-time-cmaf)"}),
    ("commonEncryptionCenc", "smoothStreaming"): frozenset({""}),
    ("commonEncryptionCbcs", "hls"): frozenset({"(format=m3u8-aapl)", "(format=m3u8-cmaf)"}),
    ("commonEncryptionCbcs", "dash"): frozenset({"(format=mpd-time-csf)",
                                                 "(format=mpd-time-cmaf)"}),
}
_KEY_TYPES = {
    "envelopeEncryption": "EnvelopeEncryption",
    "commonEncryptionCenc": "CommonEncryptionCenc",
    "commonEncryptionCbcs": "CommonEncryptionCbcs",
}


def create(
    session: Session, account: AccountRef, name: str, body: StreamingLocator, master: MasterKey
) -> Resource:
    """Create a locator; locators are immutable, as in AMS. Its keys are stored wrapped."""
    check_resource_name(name, "streaming locator")
    if get_resource(session, account, KIND, name) is not None:
        raise ConflictError(f"The streaming locator '{name}' already exists and cannot be updated.")
    props = body.properties
    asset = require_resource(session, account, "assets", props.asset_name, "asset")
    policy_name, policy = policies.get_properties(session, account, props.streaming_policy_name)
    key_policy = key_policies.require_exists(session, account,
                                             props.default_content_key_policy_name)
    locator_id = _locator_id(session, props.streaming_locator_id)
    stored = {
        "assetName": asset.name,
        "streamingPolicyName": policy_name,
        "startTime": iso(props.start_time),
        "endTime": iso(props.end_time),
        "streamingLocatorId": locator_id,
        "defaultContentKeyPolicyName": key_policy,
        "alternativeMediaId": props.alternative_media_id,
        "filters": list(props.filters or []),
    }
    entries = _content_keys(policy, policy_name, props.content_keys or [], key_policy,
                            policy.default_content_key_policy_name)  # fmt: skip
    for entry in entries:  # a mapping's own policyName must name a policy, as the default must
        entry["policyName"] = key_policies.require_exists(session, account, entry["policyName"])
    keys = [wrap_key_entry(entry, master) for entry in entries]
    row = save_resource(
        session, account, KIND, name, stored, resource_uuid=locator_id, extra={"keys": keys},
        asset=asset.name, streaming_policy=policy_name,
        content_key_policy=key_policy,
    )
    key_ids = dict.fromkeys(str(key["id"]).lower() for key in keys)  # a label in two schemes
    session.add_all(LocatorContentKey(key_id=key_id, resource_id=row.id) for key_id in key_ids)
    session.flush()
    return row


def _locator_id(session: Session, requested: uuid.UUID | None) -> str:
    if requested is None:
        return str(uuid.uuid4())
    locator_id = str(requested)
    if find_by_uuid(session, KIND, locator_id) is not None:
        raise ConflictError(f"The streaming locator id '{locator_id}' is already in use.")
    return locator_id


@dataclass(frozen=True)
class _PolicyKey:
    """A key a policy section asks the locator for: its default key or a mapping's."""

    scheme: str
    label: str
    policy_name: str | None
    tracks: list[dict[str, Any]]
    mapped: bool  # a keyToTrackMappings entry (its own policyName comes first)


def _policy_keys(policy: StreamingPolicyProperties) -> list[_PolicyKey]:
    """The default key, then each ``keyToTrackMappings`` key, of each encrypting section."""
    wanted = []
    for scheme in _KEY_TYPES:
        section = policy.schemes().get(scheme)
        if not isinstance(section, EncryptedScheme):
            continue
        content_keys = section.content_keys
        default = content_keys.default_key if content_keys else None
        wanted.append(_PolicyKey(scheme, (default.label if default else None) or "",
                                 default.policy_name if default else None, [], False))
        for mapping in (content_keys.key_to_track_mappings if content_keys else None) or []:
            tracks = [t.to_json() for t in mapping.tracks or []]
            wanted.append(_PolicyKey(scheme, mapping.label or "", mapping.policy_name, tracks,
                                     True))  # fmt: skip
    return wanted


def _given_keys(
    policy_name: str, wanted: list[_PolicyKey], requested: list[StreamingLocatorContentKey],
) -> dict[str, StreamingLocatorContentKey]:
    """The keys the request gives, by label; each must match a key of the policy."""
    known = {key.label for key in wanted}
    given: dict[str, StreamingLocatorContentKey] = {}
    for index, key in enumerate(requested):
        where = f"properties.contentKeys[{index}]"
        label = key.label_reference_in_streaming_policy or ""
        if label not in known:
            names = ", ".join(repr(x) for x in sorted(known)) or "none (it encrypts nothing)"
            raise InvalidRequestError(
                f"'{where}.labelReferenceInStreamingPolicy' {label!r} names no content key of the "
                f"streaming policy '{policy_name}'; its keys: {names}.", code="BadRequest")
        if label in given:
            raise InvalidRequestError(
                f"'{where}' gives a second key for the label {label!r}.", code="BadRequest")
        given[label] = key
    return given


def _content_keys(
    policy: StreamingPolicyProperties,
    policy_name: str,
    requested: list[StreamingLocatorContentKey],
    locator_key_policy: str | None,
    key_policy: str | None,
) -> list[dict[str, Any]]:
    """One content key per label of each encryption scheme of the policy (its default key
    and each ``keyToTrackMappings`` entry; none for clear policies).

    A default key's content key policy is the locator's ``defaultContentKeyPolicyName``,
    else the scheme's default key ``policyName``, else the streaming policy's default. A
    mapping's key follows its own ``policyName`` first, then the same defaults.
    """
    wanted = _policy_keys(policy)
    given = _given_keys(policy_name, wanted, requested)
    keys: list[dict[str, Any]] = []
    for entry in wanted:
        chosen = given.get(entry.label)
        value = (chosen.value if chosen else None) or base64.b64encode(os.urandom(16)).decode()
        if entry.mapped:
            used_policy = entry.policy_name or locator_key_policy or key_policy
        else:
            used_policy = locator_key_policy or entry.policy_name or key_policy
        keys.append(
            {
                "id": str(chosen.id if chosen else uuid.uuid4()),
                "type": _KEY_TYPES[entry.scheme],
                "labelReferenceInStreamingPolicy": entry.label or None,
                "value": value,
                "policyName": used_policy,
                "tracks": entry.tracks,
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
        {k: v for k, v in key.items() if k not in ("value", "wrappedValue")}
        for key in row.extra.get("keys", [])
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


def summaries_for_asset(
    session: Session, account: AccountRef, asset_name: str
) -> ListStreamingLocatorsResponse:
    """``listStreamingLocators`` on an asset."""
    return ListStreamingLocatorsResponse(streaming_locators=[
        AssetStreamingLocator(
            name=r.name,
            asset_name=r.properties["assetName"],
            created=iso(r.created_at),
            start_time=r.properties.get("startTime"),
            end_time=r.properties.get("endTime"),
            streaming_locator_id=r.resource_uuid,
            streaming_policy_name=r.properties["streamingPolicyName"],
            default_content_key_policy_name=r.properties.get("defaultContentKeyPolicyName"),
        )
        for r in rows_for_asset(session, account, asset_name)
    ])


def policy_in_use(session: Session, account: AccountRef, policy_name: str) -> bool:
    """Whether any locator refers to a policy."""
    return is_referenced(session, account, KIND, streaming_policy=policy_name)


def content_keys(
    session: Session, account: AccountRef, name: str, master: MasterKey
) -> ListContentKeysResponse:
    """``listContentKeys``: the locator's keys with their values (unwrapped)."""
    row = require_resource(session, account, KIND, name, "streaming locator")
    entries = row.extra.get("keys", [])
    values = {key.id: key.value for key in stored_locator_keys(row.extra, master)}
    listed = [{**{k: v for k, v in e.items() if k != "wrappedValue"},
               "value": base64.b64encode(values[uuid.UUID(str(e["id"]))]).decode()}
              for e in entries]
    return ListContentKeysResponse.model_validate({"contentKeys": listed})


def manifest_name(files: list[str]) -> str | None:
    """The name streaming URLs use: the .ism's stem, else the first MP4's stem."""
    for suffix in (".ism", ".mp4"):
        for name in sorted(files):
            if name.lower().endswith(suffix) and "/" not in name:
                return name[: -len(suffix)]
    return None


def servable(scheme: str, protocol: str, fmt: str) -> bool:
    """Whether the origin packages ``fmt`` of ``protocol`` under ``scheme``."""
    if scheme not in _KEY_TYPES:
        return True  # noEncryption
    return fmt in _SERVED_FORMATS.get((scheme, protocol), frozenset())


def _streaming_path(locator_id: str, stem: str, scheme: str, protocol: str) -> StreamingPath:
    """The manifest URLs of one protocol under one scheme (with its ``encryption=``)."""
    encryption = _ENCRYPTION.get((scheme, protocol))
    items = []
    for _, fmt in _FORMATS[protocol]:
        if not servable(scheme, protocol, fmt):
            continue
        modifier = fmt
        if encryption:
            modifier = f"({fmt[1:-1]},encryption={encryption})" if fmt else (
                f"(encryption={encryption})"
            )
        items.append(f"/{locator_id}/{quote(stem)}.ism/manifest{modifier}")
    return StreamingPath.model_validate({
        "streamingProtocol": _FORMATS[protocol][0][0],
        "encryptionScheme": policies.SCHEME_NAMES[scheme],
        "paths": items,
    })


def paths(session: Session, account: AccountRef, name: str, store: BlobStore) -> ListPathsResponse:
    """``listPaths``: relative streaming paths per enabled protocol, and download paths."""
    row = require_resource(session, account, KIND, name, "streaming locator")
    asset = require_resource(session, account, "assets", row.properties["assetName"], "asset")
    _, policy = policies.get_properties(session, account, row.properties["streamingPolicyName"])
    files = [b.name for b in store.list_blobs(asset.properties["container"])]
    stem = manifest_name(files)
    locator_id = row.resource_uuid
    streaming: list[StreamingPath] = []
    download: list[str] = []
    for scheme, protocols in policy.enabled_protocols().items():
        for protocol in ("hls", "dash", "smoothStreaming"):
            served = any(servable(scheme, protocol, fmt) for _, fmt in _FORMATS[protocol])
            if protocol in protocols and stem is not None and served:
                streaming.append(_streaming_path(locator_id, stem, scheme, protocol))
        if "download" in protocols:
            download = [
                f"/{locator_id}/{quote(f)}"
                for f in sorted(files)
                if not f.lower().endswith(INTERNAL_SUFFIXES)
            ]
    return ListPathsResponse(streaming_paths=streaming, download_paths=download)
