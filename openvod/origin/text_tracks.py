"""Text tracks in the origin: loading an asset's visible tracks, and serving them.

The tracks of an asset are in its container (:data:`TRACKS_BLOB`, written by the
tracks API); the loader reads each visible track's file once with the asset's media
and keeps its cues. Manifests then gain the subtitle renditions
(:mod:`openvod.media.subtitles`) and the URLs under ``{name}.ism/subtitles/`` are
answered from those cues. A caption file that cannot be read is logged and left
out: the audio and video still stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openvod.errors import MediaError, NotFoundError
from openvod.media.captions.reader import parse_ttml, parse_webvtt
from openvod.media.subtitles import (
    PREFIX,
    TextRendition,
    add_dash_text,
    add_hls_subtitles,
    build_subtitle_playlist,
    build_webvtt_segment,
    build_whole_webvtt,
)
from openvod.media.urls import DASH_FORMATS, ManifestRequest, PlaylistRequest
from openvod.storage.store import BlobInfo, BlobStore

log = logging.getLogger(__name__)

TRACKS_BLOB = "openvod-tracks.json"  # the same name openvod.services.tracks writes
TEXT_SUFFIXES = (".vtt", ".ttml", ".xml", ".dfxp")
MAX_TEXT_BYTES = 16 * 1024 * 1024
_VTT = b"text/vtt; charset=utf-8"
_TTML = b"application/ttml+xml; charset=utf-8"
_HLS = b"application/vnd.apple.mpegurl"


@dataclass(frozen=True)
class TextRequest:
    """``{name}.ism/subtitles/{track}/{leaf}``."""

    track: str
    leaf: str  # playlist.m3u8, {n}.vtt, track.vtt, track.ttml

    @property
    def protocol(self) -> str:
        """The policy protocol this URL belongs to."""
        return "dash" if self.leaf.startswith("track.") else "hls"


def is_text_blob(name: str) -> bool:
    """Whether a blob can change the asset's text tracks (the tracks file or a caption)."""
    return name == TRACKS_BLOB or name.lower().endswith(TEXT_SUFFIXES)


def parse_text_request(segments: tuple[str, ...]) -> TextRequest | None:
    """The text request of a path after the locator, or None if it is not one."""
    if len(segments) == 4 and segments[0].lower().endswith(".ism") and segments[1] == PREFIX:
        return TextRequest(segments[2], segments[3])
    return None


@dataclass(frozen=True)
class LoadedText:
    """The visible text tracks of an asset, and the TTML files as stored (for DASH)."""

    tracks: tuple[TextRendition, ...] = ()
    ttml: Mapping[str, bytes] = field(default_factory=dict)


NO_TEXT = LoadedText()


def load_text_tracks(store: BlobStore, container: str,
                     blobs: Mapping[str, BlobInfo]) -> LoadedText:
    """The visible text tracks of a container, in the order they were added."""
    info = blobs.get(TRACKS_BLOB)
    if info is None:
        return NO_TEXT
    try:
        stored = json.loads(store.read_range(container, TRACKS_BLOB, 0, info.size_bytes))
        entries = list(stored.get("tracks", []))
    except (ValueError, AttributeError):
        log.warning("ignoring unreadable %s in container %s", TRACKS_BLOB, container)
        return NO_TEXT
    loaded, ttml = [], {}
    for entry in entries:
        track = entry.get("track") or {}
        if track.get("playerVisibility", "Visible") == "Hidden":
            continue
        found = _load_one(store, container, blobs, str(entry.get("name", "")), track)
        if found is not None:
            loaded.append(found[0])
            if found[0].ttml:
                ttml[found[0].name.lower()] = found[1]
    return LoadedText(tuple(loaded), ttml)


def _load_one(store: BlobStore, container: str, blobs: Mapping[str, BlobInfo], name: str,
              track: dict[str, Any]) -> tuple[TextRendition, bytes] | None:
    file_name = str(track.get("fileName") or "")
    info = blobs.get(file_name)
    if info is None or info.size_bytes > MAX_TEXT_BYTES:
        log.warning("text track %s of %s: file %r missing or too large", name, container,
                    file_name)
        return None
    data = store.read_range(container, file_name, 0, info.size_bytes)
    ttml = not file_name.lower().endswith(".vtt")
    try:
        cues = parse_ttml(data)[1] if ttml else parse_webvtt(data.decode("utf-8"))
    except (MediaError, UnicodeDecodeError) as exc:
        log.warning("text track %s of %s: %s is unreadable: %s", name, container, file_name, exc)
        return None
    hls = track.get("hlsSettings") or {}
    return TextRendition(
        name=name, display_name=str(track.get("displayName") or name),
        language=str(track.get("languageCode") or "und"), cues=tuple(cues),
        default=bool(hls.get("default")), forced=bool(hls.get("forced")),
        characteristics=hls.get("characteristics"), ttml=ttml,
    ), data


def with_text_tracks(text: str, request: ManifestRequest | PlaylistRequest,
                     tracks: tuple[TextRendition, ...]) -> str:
    """A manifest with the subtitle renditions added (HLS masters and DASH MPDs)."""
    if not tracks or isinstance(request, PlaylistRequest) or request.format == "smooth":
        return text
    if request.format in DASH_FORMATS:
        return add_dash_text(text, tracks)
    return add_hls_subtitles(text, tracks)


def build_text_body(text: LoadedText, request: TextRequest,
                    duration_seconds: float) -> tuple[bytes, bytes]:
    """(body, content type) of a text URL; NotFoundError for an unknown track or file."""
    track = next((t for t in text.tracks if t.name.lower() == request.track.lower()), None)
    if track is None:
        raise NotFoundError("No such text track.")
    leaf = request.leaf
    if leaf == "playlist.m3u8":
        return build_subtitle_playlist(track, duration_seconds).encode(), _HLS
    if leaf == "track.vtt":
        return build_whole_webvtt(track).encode(), _VTT
    if leaf == "track.ttml" and track.name.lower() in text.ttml:
        return text.ttml[track.name.lower()], _TTML
    stem = leaf[:-4] if leaf.endswith(".vtt") else ""
    if stem.isdigit() and len(stem) < 9:
        body = build_webvtt_segment(track, int(stem), duration_seconds)
        if body is not None:
            return body.encode(), _VTT
    raise NotFoundError("No such text track file.")
