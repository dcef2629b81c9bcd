"""Subtitle renditions in HLS and DASH manifests (pure: values in, text out).

An asset's visible text tracks become, in an HLS master playlist, a SUBTITLES
rendition group (``#EXT-X-MEDIA:TYPE=SUBTITLES``) that every variant names,
each rendition a media playlist of WebVTT segments; in a DASH MPD, one text
AdaptationSet per track with a single-file Representation (WebVTT, or the TTML
file itself). The manifests built by :mod:`openvod.media.hls` and
:mod:`openvod.media.dash` are extended here, so the builders stay unaware of text.

URLs, relative to the manifest (``{name}.ism/``)::

    subtitles/{track}/playlist.m3u8     HLS WebVTT media playlist
    subtitles/{track}/{index}.vtt       HLS WebVTT segment
    subtitles/{track}/track.vtt         the whole track as WebVTT (DASH)
    subtitles/{track}/track.ttml        a TTML track as stored (DASH)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from openvod.media.captions.cues import clock_time
from openvod.media.captions.reader import RawCue

SUBTITLE_GROUP = "subs"
SEGMENT_SECONDS = 10
PREFIX = "subtitles"
# HLS timestamps of openvod's segments start at 0: cue time 0 is MPEG-TS time 0.
TIMESTAMP_MAP = "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"


@dataclass(frozen=True)
class TextRendition:
    """A visible text track of an asset, ready to serve.

    ``name`` is the track's name (its URL segment), ``cues`` the whole track;
    ``ttml`` is True when the stored file is TTML (DASH then serves it as is).
    """

    name: str
    display_name: str
    language: str
    cues: tuple[RawCue, ...]
    default: bool = False
    forced: bool = False
    characteristics: str | None = None
    ttml: bool = False


def track_path(track: TextRendition, leaf: str) -> str:
    """A URL relative to the manifest for one file of a text track."""
    return f"{PREFIX}/{quote(track.name, safe='')}/{leaf}"


def _quoted(value: str) -> str:
    """An HLS quoted-string value (no double quotes, CR or LF allowed)."""
    return value.replace('"', "'").replace("\r", " ").replace("\n", " ")


def _media_line(track: TextRendition) -> str:
    line = (f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLE_GROUP}",'
            f'NAME="{_quoted(track.display_name)}",LANGUAGE="{_quoted(track.language)}",'
            f'DEFAULT={"YES" if track.default else "NO"},'
            "AUTOSELECT=YES,"
            f'FORCED={"YES" if track.forced else "NO"}')
    if track.characteristics:
        line += f',CHARACTERISTICS="{_quoted(track.characteristics)}"'
    return line + f',URI="{track_path(track, "playlist.m3u8")}"'


def add_hls_subtitles(master: str, tracks: Sequence[TextRendition]) -> str:
    """A master playlist with the SUBTITLES group added and named by every variant."""
    if not tracks:
        return master
    lines = master.rstrip("\n").split("\n")
    media = [_media_line(t) for t in tracks]
    out: list[str] = []
    inserted = False
    for line in lines:
        if not inserted and line.startswith(("#EXT-X-MEDIA", "#EXT-X-STREAM-INF")):
            out += media
            inserted = True
        if line.startswith("#EXT-X-STREAM-INF:"):
            line += f',SUBTITLES="{SUBTITLE_GROUP}"'
        out.append(line)
    if not inserted:
        out += media
    return "\n".join(out) + "\n"


def segment_count(duration_seconds: float) -> int:
    """How many WebVTT segments cover the presentation (at least one)."""
    return max(1, math.ceil(duration_seconds / SEGMENT_SECONDS))


def build_subtitle_playlist(track: TextRendition, duration_seconds: float) -> str:
    """The WebVTT media playlist of a track: segments of :data:`SEGMENT_SECONDS`."""
    count = segment_count(duration_seconds)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{SEGMENT_SECONDS}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for index in range(count):
        length = min(SEGMENT_SECONDS, duration_seconds - index * SEGMENT_SECONDS)
        lines.append(f"#EXTINF:{max(length, 0.001):.3f},")
        lines.append(f"{index}.vtt")
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _cue_block(cue: RawCue) -> str:
    timing = f"{clock_time(cue.start_seconds)} --> {clock_time(cue.end_seconds)}"
    if cue.settings:
        timing += " " + cue.settings
    return "\n".join([timing, *cue.payload]) + "\n"


def build_webvtt_segment(track: TextRendition, index: int, duration_seconds: float) -> str | None:
    """WebVTT segment ``index``: the cues that overlap it (a cue spanning two segments is in
    both, as RFC 8216 allows), with the timestamp map; None past the last segment."""
    if not 0 <= index < segment_count(duration_seconds):
        return None
    start = index * SEGMENT_SECONDS
    end = start + SEGMENT_SECONDS
    last = index == segment_count(duration_seconds) - 1
    blocks = ["WEBVTT\n" + TIMESTAMP_MAP + "\n"]
    blocks += [_cue_block(c) for c in track.cues
               if c.end_seconds > start and (c.start_seconds < end or last)]
    return "\n".join(blocks)


def build_whole_webvtt(track: TextRendition) -> str:
    """The whole track as one WebVTT file (DASH's single-file text Representation)."""
    return "\n".join(["WEBVTT\n", *(_cue_block(c) for c in track.cues)])


def _text_set(index: int, track: TextRendition) -> str:
    mime, leaf = ("application/ttml+xml", "track.ttml") if track.ttml else ("text/vtt",
                                                                           "track.vtt")
    lang = track.language.replace('"', "")
    label = (track.display_name.replace("&", "&amp;").replace("<", "&lt;")
             .replace('"', "&quot;"))
    role = "caption" if track.characteristics and "accessibility" in track.characteristics \
        else "subtitle"
    return (
        f'    <AdaptationSet id="{index}" contentType="text" mimeType="{mime}" lang="{lang}">\n'
        f'      <Role schemeIdUri="urn:mpeg:dash:role:2011" value="{role}"/>\n'
        f"      <Label>{label}</Label>\n"
        f'      <Representation id="text_{index}" bandwidth="1000">\n'
        f"        <BaseURL>{track_path(track, leaf)}</BaseURL>\n"
        "      </Representation>\n"
        "    </AdaptationSet>"
    )


def add_dash_text(mpd: str, tracks: Sequence[TextRendition]) -> str:
    """An MPD with one text AdaptationSet per track at the end of its Period."""
    if not tracks:
        return mpd
    at = mpd.rfind("  </Period>")
    if at < 0:
        return mpd
    first_id = mpd.count("<AdaptationSet ")
    sets = "\n".join(_text_set(first_id + i, t) for i, t in enumerate(tracks))
    return mpd[:at] + sets + "\n" + mpd[at:]
