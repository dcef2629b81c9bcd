"""Asset tracks: text tracks (captions) an asset's streams carry as subtitles.

An asset's tracks live in its own container, in :data:`TRACKS_BLOB` (JSON), next
to the files they name: the origin reads them with the asset's media (no database
query on the streaming path), and they go with the asset when it is deleted.
Every change here is complete when the call returns; the API still answers as
the ARM long-running operation the SDK expects.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from typing import Any

from openvod.clock import iso, parse_iso, utcnow
from openvod.errors import InvalidRequestError, NotFoundError
from openvod.media.captions.reader import XML_LANG
from openvod.resources.tracks import AssetTrack
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.storage.store import BlobStore

TRACKS_BLOB = "openvod-tracks.json"
TYPE = "Microsoft.Media/mediaservices/assets/tracks"
MAX_TRACKS = 64
_LOCK = threading.Lock()  # read-modify-write of one process; the API is the only writer


def read_tracks(store: BlobStore, container: str) -> list[dict[str, Any]]:
    """The stored tracks of a container (``[]`` when it has none)."""
    names = {b.name: b for b in store.list_blobs(container)}
    info = names.get(TRACKS_BLOB)
    if info is None:
        return []
    doc = json.loads(store.read_range(container, TRACKS_BLOB, 0, info.size_bytes))
    return list(doc.get("tracks", []))


def _write(store: BlobStore, container: str, tracks: list[dict[str, Any]]) -> None:
    data = json.dumps({"version": 1, "tracks": tracks}, indent=1).encode()
    store.put_blob(container, TRACKS_BLOB, data, content_type="application/json")


def _find(tracks: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((t for t in tracks if t["name"].lower() == name.lower()), None)


def _require(tracks: list[dict[str, Any]], asset: str, name: str) -> dict[str, Any]:
    found = _find(tracks, name)
    if found is None:
        raise NotFoundError(f"The track '{name}' of asset '{asset}' was not found.")
    return found


def _language(store: BlobStore, container: str, file_name: str) -> str:
    """The track's language: TTML's xml:lang, else the asset's insights.json, else 'und'."""
    info = {b.name: b for b in store.list_blobs(container)}
    if file_name.lower().endswith((".ttml", ".xml", ".dfxp")):
        head = store.read_range(container, file_name, 0, min(info[file_name].size_bytes, 1 << 20))
        try:
            lang = ET.fromstring(head).get(XML_LANG)
        except ET.ParseError:
            lang = None
        if lang:
            return lang
    if "insights.json" in info:
        raw = store.read_range(container, "insights.json", 0, info["insights.json"].size_bytes)
        try:
            return str(json.loads(raw).get("language") or "und")
        except ValueError:
            pass
    return "und"


def _checked_track(store: BlobStore, container: str, asset: str,
                   track: dict[str, Any]) -> dict[str, Any]:
    """The track JSON to store: its file exists, its language is known."""
    file_name = track.get("fileName")
    if not file_name:
        raise InvalidRequestError("'properties.track.fileName' is required: a .vtt or .ttml "
                                  "file of the asset")
    names = {b.name for b in store.list_blobs(container)}
    if file_name not in names:
        raise InvalidRequestError(f"'properties.track.fileName' {file_name!r} is not a file of "
                                  f"asset '{asset}'")
    track = dict(track)
    track.setdefault("displayName", file_name.rsplit(".", 1)[0])
    track.setdefault("playerVisibility", "Visible")
    track["languageCode"] = track.get("languageCode") or _language(store, container, file_name)
    return track


def create_or_update(store: BlobStore, container: str, asset: str, name: str,
                     body: AssetTrack) -> tuple[dict[str, Any], bool]:
    """PUT a track: (the stored track, whether it is new)."""
    check_resource_name(name, "track")
    if body.properties.track is None:
        raise InvalidRequestError("'properties.track' is required: a #Microsoft.Media.TextTrack")
    with _LOCK:
        tracks = read_tracks(store, container)
        track = _checked_track(store, container, asset, body.properties.track.to_json())
        now = str(iso(utcnow()))
        existing = _find(tracks, name)
        new = existing is None
        if existing is None:
            if len(tracks) >= MAX_TRACKS:
                raise InvalidRequestError(f"An asset holds at most {MAX_TRACKS} tracks.")
            existing = {"name": name, "created": now}
            tracks.append(existing)
        existing.update(track=track, modified=now)
        _write(store, container, tracks)
        return existing, new


def update(store: BlobStore, container: str, asset: str, name: str,
           body: AssetTrack) -> dict[str, Any]:
    """PATCH a track: the fields sent replace the stored ones."""
    with _LOCK:
        tracks = read_tracks(store, container)
        existing = _require(tracks, asset, name)
        if body.properties.track is not None:
            merged = dict(existing["track"])
            merged.update(body.properties.track.to_json())
            if "fileName" in body.properties.track.model_fields_set:
                merged.pop("languageCode", None)
            existing["track"] = _checked_track(store, container, asset, merged)
        existing["modified"] = str(iso(utcnow()))
        _write(store, container, tracks)
        return existing


def delete(store: BlobStore, container: str, name: str) -> bool:
    """Delete a track (its file stays in the asset); False if there was none."""
    with _LOCK:
        tracks = read_tracks(store, container)
        kept = [t for t in tracks if t["name"].lower() != name.lower()]
        if len(kept) == len(tracks):
            return False
        _write(store, container, kept)
        return True


def update_track_data(store: BlobStore, container: str, asset: str, name: str) -> None:
    """``updateTrackData``: the track's file was replaced; check it and serve the new data."""
    with _LOCK:
        tracks = read_tracks(store, container)
        existing = _require(tracks, asset, name)
        existing["track"] = _checked_track(store, container, asset, existing["track"])
        existing["modified"] = str(iso(utcnow()))
        _write(store, container, tracks)


def get(store: BlobStore, container: str, asset: str, name: str) -> dict[str, Any]:
    """One stored track, or NotFoundError."""
    return _require(read_tracks(store, container), asset, name)


def to_arm(account: AccountRef, asset: str, stored: dict[str, Any]) -> dict[str, Any]:
    """A track as the SDK's AssetTrack reads it."""
    return envelope(
        arm_id=f"{account.arm_id}/assets/{asset}/tracks/{stored['name']}",
        name=stored["name"],
        type_=TYPE,
        properties={"track": stored["track"], "provisioningState": "Succeeded"},
        created=parse_iso(stored["created"]),
        modified=parse_iso(stored["modified"]),
    )


def list_arm(account: AccountRef, asset: str, store: BlobStore, container: str) -> dict[str, Any]:
    """All tracks of an asset."""
    return page([to_arm(account, asset, t) for t in read_tracks(store, container)])
