"""The ``.ism`` server manifest AMS wrote beside every encoded MP4 set. Pure.

It is SMIL 2.0: a ``<switch>`` listing each video rendition's MP4 with its
bitrate and track ID, and the audio once (from the first file that has it)
with a ``trackName`` such as ``aac_und_2_128`` (codec, language, channels,
kbps)::

    <smil xmlns="http://www.w3.org/2001/SMIL20/Language">
      <head><meta name="formats" content="mp4-adaptive" /></head>
      <body><switch>
        <video src="clip_640x360_1000.mp4" systemBitrate="1000000">
          <param name="trackID" value="1" valuetype="data" />
        </video>
        <audio src="clip_AACAudio_128.mp4" systemBitrate="128000">
          <param name="trackID" value="1" valuetype="data" />
          <param name="trackName" value="aac_und_2_128" valuetype="data" />
        </audio>
      </switch></body>
    </smil>

Manifests written by hand for AMS (multi-language audio uploaded as-is) also
give ``systemLanguage`` (RFC 1766/BCP 47, e.g. ``en``) and ``title`` on an
entry, as attributes or as ``<param>`` elements, and often omit
``systemBitrate`` (the origin measures the track) and ``trackID`` (the first
track of the entry's kind in the file)::

    <audio src="movie.mp4" systemLanguage="en" title="English" />
    <audio src="movie_fr.mp4">
      <param name="systemLanguage" value="fr" valuetype="data" />
      <param name="title" value="Français" valuetype="data" />
    </audio>
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal
from xml.sax.saxutils import escape

from openvod.errors import MediaError

SMIL_NS = "http://www.w3.org/2001/SMIL20/Language"
FORMATS_MP4_ADAPTIVE = "mp4-adaptive"

TrackKind = Literal["video", "audio", "textstream"]


@dataclass(frozen=True)
class IsmTrack:
    """One ``<video>``/``<audio>``/``<textstream>`` entry: a track of one file.

    ``system_bitrate`` 0: not given; ``track_id`` 0: not given (the first
    track of the kind); ``language`` and ``title`` as the manifest gives them.
    """

    kind: TrackKind
    src: str
    system_bitrate: int  # bits per second
    track_id: int
    track_name: str | None = None
    language: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class ServerManifest:
    """A parsed or to-be-written ``.ism``; ``meta`` are the ``<head>`` name/content pairs."""

    tracks: tuple[IsmTrack, ...]
    meta: tuple[tuple[str, str], ...] = (("formats", FORMATS_MP4_ADAPTIVE),)

    @property
    def video(self) -> tuple[IsmTrack, ...]:
        """The video renditions, in manifest order."""
        return tuple(t for t in self.tracks if t.kind == "video")

    @property
    def audio(self) -> tuple[IsmTrack, ...]:
        """The audio tracks, in manifest order."""
        return tuple(t for t in self.tracks if t.kind == "audio")


def audio_track_name(
    codec: str = "aac", language: str | None = None, channels: int = 2, bitrate_bps: int = 128000
) -> str:
    """AMS's audio ``trackName``: ``aac_und_2_128``."""
    return f"{codec}_{language or 'und'}_{channels}_{bitrate_bps // 1000}"


def build_ism(manifest: ServerManifest) -> str:
    """The manifest as the XML text AMS wrote (UTF-8, two-space indent)."""
    lines = [
        '<?xml version="1.0" encoding="utf-8" standalone="yes"?>',
        f"<smil xmlns={_attr(SMIL_NS)}>",
        "  <head>",
        *(f"    <meta name={_attr(n)} content={_attr(c)} />" for n, c in manifest.meta),
        "  </head>",
        "  <body>",
        "    <switch>",
    ]
    for track in manifest.tracks:
        lines += _track_lines(track)
    lines += ["    </switch>", "  </body>", "</smil>", ""]
    return "\n".join(lines)


def _track_lines(track: IsmTrack) -> list[str]:
    params = [("trackID", str(track.track_id))] if track.track_id else []
    if track.track_name:
        params.append(("trackName", track.track_name))
    attributes = f"src={_attr(track.src)}"
    if track.system_bitrate:
        attributes += f' systemBitrate="{int(track.system_bitrate)}"'
    if track.language:
        attributes += f" systemLanguage={_attr(track.language)}"
    if track.title:
        attributes += f" title={_attr(track.title)}"
    return [
        f"      <{track.kind} {attributes}>",
        *(
            f'        <param name="{name}" value={_attr(value)} valuetype="data" />'
            for name, value in params
        ),
        f"      </{track.kind}>",
    ]


def parse_ism(text: str | bytes) -> ServerManifest:
    """Read a ``.ism`` back; raise MediaError if it is not a SMIL server manifest."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise MediaError(f"The .ism manifest is not well-formed XML: {exc}") from exc
    if _local(root.tag) != "smil":
        raise MediaError(f"The .ism manifest's root is <{_local(root.tag)}>, not <smil>")
    meta = tuple(
        (el.get("name", ""), el.get("content", ""))
        for el in root.iter()
        if _local(el.tag) == "meta"
    )
    tracks = tuple(
        _parse_track(el) for el in root.iter() if _local(el.tag) in ("video", "audio", "textstream")
    )
    return ServerManifest(tracks, meta)


def _parse_track(el: ET.Element) -> IsmTrack:
    kind = _local(el.tag)
    src = el.get("src")
    if not src:
        raise MediaError(f"An .ism <{kind}> entry has no src")
    params = {p.get("name", ""): p.get("value", "") for p in el if _local(p.tag) == "param"}
    try:
        bitrate = int(el.get("systemBitrate") or params.get("systemBitrate") or 0)
        track_id = int(params.get("trackID") or 0)
    except ValueError as exc:
        raise MediaError(
            f"The .ism entry for {src!r} has a non-numeric bitrate or trackID"
        ) from exc
    if bitrate < 0 or track_id < 0:
        raise MediaError(f"The .ism entry for {src!r} has a negative bitrate or trackID")
    language = (el.get("systemLanguage") or params.get("systemLanguage") or "").strip()
    title = (el.get("title") or params.get("title") or "").strip()
    return IsmTrack(
        kind,  # type: ignore[arg-type]
        src,
        bitrate,
        track_id,
        params.get("trackName"),
        language or None,
        title or None,
    )


def _attr(value: str) -> str:
    """An XML attribute value, always in double quotes as AMS wrote them."""
    return '"' + escape(value, {'"': "&quot;"}) + '"'


def _local(tag: str) -> str:
    """The tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]
