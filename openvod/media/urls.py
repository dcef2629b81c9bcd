"""The AMS streaming URL grammar: everything after ``/{locatorId}/{name}.ism/``.

Three kinds of resource, each parsed into a typed request and formatted back
(``parse_streaming_path(format_streaming_path(r)) == r`` for every request)::

    manifest                                         Smooth client manifest
    manifest(format=m3u8-aapl[,modifiers])[.m3u8]    HLS master playlist (also -v3, m3u8-cmaf)
    manifest(format=mpd-time-csf[,modifiers])[.mpd]  DASH MPD (also mpd-time-cmaf)
    QualityLevels(128000)/Manifest(aac_und_2_128000,format=m3u8-aapl)     HLS media playlist
    QualityLevels(3000000)/Manifest(video,format=m3u8-aapl,type=keyframes) I-frame playlist
    QualityLevels(3000000)/Fragments(video=25600,format=m3u8-aapl)         TS segment
    QualityLevels(3000000)/Fragments(video=25600,format=m3u8-aapl,type=keyframes)
                                                     one keyframe as a TS (I-frame playlists)
    QualityLevels(3000000)/Fragments(video=i,format=mpd-time-cmaf)         fMP4 init segment
    QualityLevels(3000000)/Fragments(video=25600,format=mpd-time-csf)      fMP4 fragment
    QualityLevels(3000000)/Fragments(video=20000000)                       Smooth fragment

The manifests write every HLS/DASH child URL with its real file extension,
because players and ffmpeg (>= 7.1, ``allowed_segment_extensions``) judge a
segment by the extension of its URL path::

    QualityLevels(128000)/Manifest(aac_eng_2_128,format=m3u8-aapl).m3u8   media playlist
    QualityLevels(3000000)/Fragments(video=25600,format=m3u8-aapl).ts      MPEG-TS segment
    QualityLevels(3000000)/Fragments(video=i,format=m3u8-cmaf).mp4         fMP4 init segment
    QualityLevels(3000000)/Fragments(video=25600,format=m3u8-cmaf).m4s     fMP4 fragment
    QualityLevels(64000)/Fragments(sub_eng=0,format=m3u8-aapl).vtt         WebVTT (text tracks)

The extension-less AMS forms keep answering the same bytes. An extension
must be the one :func:`segment_extension` gives for the URL's format (``.vtt``
only for text tracks, which the origin checks); Smooth fragments take none.

Fragment times are decode times in the track's timescale, except Smooth
fragments (no ``format``), whose times are in the manifest's 10 MHz units.
Modifiers: ``encryption=cbc|cbcs|cbcs-aapl|cenc|piff``, ``filter=a;b``,
``audio-only=true|false`` (manifests only), ``type=keyframes`` (HLS video
playlists and fragments only). Keywords, format names and modifier values
are case-insensitive (formatting writes them in canonical case); track and
filter names are case-sensitive. ``m3u8-aapl-v4`` is read as ``m3u8-aapl``.
Extensions are case-insensitive too. Anything else raises
:class:`~openvod.errors.InvalidRequestError`. Paths are expected percent-decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeGuard, cast, get_args

from openvod.errors import InvalidRequestError

ManifestFormat = Literal[
    "smooth", "m3u8-aapl", "m3u8-aapl-v3", "m3u8-cmaf", "mpd-time-csf", "mpd-time-cmaf"
]
HlsFormat = Literal["m3u8-aapl", "m3u8-aapl-v3", "m3u8-cmaf"]
DashFormat = Literal["mpd-time-csf", "mpd-time-cmaf"]
Encryption = Literal["cbc", "cbcs", "cbcs-aapl", "cenc", "piff"]
InitTime = Literal["i"]
SegmentKind = Literal["video", "audio", "text"]

MANIFEST_FORMATS: tuple[ManifestFormat, ...] = get_args(ManifestFormat)
HLS_FORMATS: tuple[HlsFormat, ...] = get_args(HlsFormat)
DASH_FORMATS: tuple[DashFormat, ...] = get_args(DashFormat)
ENCRYPTIONS: tuple[Encryption, ...] = get_args(Encryption)
FMP4_FORMATS: frozenset[str] = frozenset({"m3u8-cmaf", "mpd-time-csf", "mpd-time-cmaf"})
TS_FORMATS: frozenset[str] = frozenset({"m3u8-aapl", "m3u8-aapl-v3"})
VIDEO_TRACK = "video"
INIT_TIME: InitTime = "i"
NAME_PATTERN = r"[A-Za-z0-9_.~-]+"  # track and filter names
_FORMAT_ALIASES = {"m3u8-aapl-v4": "m3u8-aapl"}
_EXTENSIONS = {".m3u8": HLS_FORMATS, ".mpd": DASH_FORMATS}
_NAME = re.compile(NAME_PATTERN)
_MANIFEST = re.compile(r"manifest(?:\((?P<args>[^()]*)\))?(?P<ext>\.m3u8|\.mpd)?", re.I)
_CHILD = re.compile(
    r"qualitylevels\((?P<bitrate>[0-9]{1,10})\)/(?P<kind>manifest|fragments)\((?P<args>[^()]*)\)"
    r"(?P<ext>\.[a-z0-9]{1,4})?",
    re.I,
)
PLAYLIST_EXTENSION = ".m3u8"
TEXT_EXTENSION = ".vtt"
_TIME = re.compile(r"[0-9]{1,19}")
_MAX_TIME = 2**63 - 1
_MAX_BITRATE = 2**32 - 1


def is_hls_format(fmt: str) -> TypeGuard[HlsFormat]:
    """Whether ``fmt`` is an HLS format (narrows the type)."""
    return fmt in HLS_FORMATS


def is_dash_format(fmt: str) -> TypeGuard[DashFormat]:
    """Whether ``fmt`` is a DASH format (narrows the type)."""
    return fmt in DASH_FORMATS


@dataclass(frozen=True)
class ManifestOptions:
    """The modifiers of a request besides its format.

    ``encryption`` and ``filters`` also apply to every playlist and fragment a
    manifest points to, so the builders repeat them in child URLs;
    ``audio_only`` (False for ``audio-only=false``: no audio-only HLS variant)
    only applies to manifests.
    """

    encryption: Encryption | None = None
    filters: tuple[str, ...] = ()
    audio_only: bool = True

    def for_children(self) -> ManifestOptions:
        """The options that child playlist and fragment URLs carry."""
        return ManifestOptions(self.encryption, self.filters) if not self.audio_only else self


NO_OPTIONS = ManifestOptions()


@dataclass(frozen=True)
class ManifestRequest:
    """A Smooth manifest, HLS master playlist or DASH MPD.

    ``extension`` is '', or the '.m3u8'/'.mpd' suffix some players append.
    """

    format: ManifestFormat
    options: ManifestOptions = NO_OPTIONS
    extension: str = ""


@dataclass(frozen=True)
class PlaylistRequest:
    """An HLS media playlist (or I-frame playlist when ``keyframes``) of one rendition.

    ``extension`` is '' (the AMS form) or '.m3u8' (the form manifests write).
    """

    bitrate: int
    track: str  # 'video' or the audio track name
    format: HlsFormat
    keyframes: bool = False
    options: ManifestOptions = NO_OPTIONS
    extension: str = ""


@dataclass(frozen=True)
class FragmentRequest:
    """One segment: ``time`` is its start (see the module doc for units) or 'i' for init.

    ``format`` 'smooth' is the Smooth form (no ``format=`` in the URL).
    ``keyframes`` asks for the single keyframe at ``time`` (HLS I-frame playlists).
    ``extension`` is '' (the AMS form) or the segment's file extension
    (``.ts``, ``.mp4``, ``.m4s``, ``.vtt``: the form manifests write).
    """

    bitrate: int
    track: str
    time: int | InitTime
    format: ManifestFormat
    keyframes: bool = False
    options: ManifestOptions = NO_OPTIONS
    extension: str = ""


StreamingRequest = ManifestRequest | PlaylistRequest | FragmentRequest


def _bad(message: str) -> InvalidRequestError:
    return InvalidRequestError(f"invalid streaming URL: {message}")


# --- parsing ---------------------------------------------------------------------------------


def parse_streaming_path(path: str) -> StreamingRequest:
    """Parse the part of a streaming URL after ``{name}.ism/`` into a typed request."""
    if match := _MANIFEST.fullmatch(path):
        return _parse_manifest(match.group("args"), (match.group("ext") or "").lower())
    if match := _CHILD.fullmatch(path):
        bitrate = int(match.group("bitrate"))
        if not 0 < bitrate <= _MAX_BITRATE:
            raise _bad(f"bitrate {bitrate} out of range")
        extension = (match.group("ext") or "").lower()
        if match.group("kind").lower() == "manifest":
            return _parse_playlist(bitrate, match.group("args"), extension)
        return _parse_fragment(bitrate, match.group("args"), extension)
    raise _bad(f"unknown resource {path!r}")


def _split_modifiers(items: list[str]) -> dict[str, str]:
    """``key=value`` items to a dict with lower-case keys; duplicates and blanks are errors."""
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not key or not value:
            raise _bad(f"malformed modifier {item!r}")
        if key in found:
            raise _bad(f"modifier {key!r} given twice")
        found[key] = value
    return found


def _parse_format(value: str) -> ManifestFormat:
    name = value.lower()
    name = _FORMAT_ALIASES.get(name, name)
    if name not in MANIFEST_FORMATS or name == "smooth":
        raise _bad(f"unknown format {value!r}")
    return cast(ManifestFormat, name)


def _parse_options(found: dict[str, str], *, allow_audio_only: bool) -> ManifestOptions:
    """Encryption, filter and (for manifests) audio-only; unknown modifiers are errors."""
    encryption: Encryption | None = None
    if "encryption" in found:
        value = found.pop("encryption").lower()
        if value not in ENCRYPTIONS:
            raise _bad(f"unknown encryption {value!r}")
        encryption = cast(Encryption, value)
    filters: tuple[str, ...] = ()
    if "filter" in found:
        filters = tuple(found.pop("filter").split(";"))
        if not all(_NAME.fullmatch(name) for name in filters):
            raise _bad(f"malformed filter list {';'.join(filters)!r}")
    audio_only = True
    if allow_audio_only and "audio-only" in found:
        value = found.pop("audio-only").lower()
        if value not in ("true", "false"):
            raise _bad(f"audio-only must be true or false, not {value!r}")
        audio_only = value == "true"
    if found:
        raise _bad(f"unsupported modifier {next(iter(found))!r}")
    return ManifestOptions(encryption, filters, audio_only)


def _parse_keyframes(found: dict[str, str]) -> bool:
    if "type" not in found:
        return False
    value = found.pop("type")
    if value.lower() != "keyframes":
        raise _bad(f"unknown type {value!r}")
    return True


def _parse_manifest(args: str | None, extension: str) -> ManifestRequest:
    found = _split_modifiers(args.split(",")) if args else {}
    fmt: ManifestFormat = _parse_format(found.pop("format")) if "format" in found else "smooth"
    options = _parse_options(found, allow_audio_only=True)
    if extension and fmt not in _EXTENSIONS[extension]:
        raise _bad(f"extension {extension!r} does not match format {fmt!r}")
    return ManifestRequest(fmt, options, extension)


def _parse_track(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise _bad(f"malformed track name {name!r}")
    return VIDEO_TRACK if name.lower() == VIDEO_TRACK else name


def _parse_playlist(bitrate: int, args: str, extension: str) -> PlaylistRequest:
    track, *rest = args.split(",")
    found = _split_modifiers(rest)
    fmt = _parse_format(found.pop("format")) if "format" in found else None
    if fmt not in HLS_FORMATS:
        raise _bad("a media playlist needs format=m3u8-aapl, m3u8-aapl-v3 or m3u8-cmaf")
    keyframes = _parse_keyframes(found)
    name = _parse_track(track.strip())
    _check_keyframes(keyframes, name, fmt)
    options = _parse_options(found, allow_audio_only=False)
    if extension not in ("", PLAYLIST_EXTENSION):
        raise _bad(f"a media playlist's extension is {PLAYLIST_EXTENSION}, not {extension!r}")
    return PlaylistRequest(bitrate, name, cast(HlsFormat, fmt), keyframes, options, extension)


def _check_keyframes(keyframes: bool, track: str, fmt: ManifestFormat) -> None:
    if keyframes and (track != VIDEO_TRACK or fmt not in ("m3u8-aapl", "m3u8-cmaf")):
        raise _bad("type=keyframes applies to video in m3u8-aapl and m3u8-cmaf only")


def _parse_fragment(bitrate: int, args: str, extension: str) -> FragmentRequest:
    head, *rest = args.split(",")
    track, sep, time_text = head.partition("=")
    if not sep:
        raise _bad(f"fragment {head!r} is not track=time")
    name = _parse_track(track.strip())
    found = _split_modifiers(rest)
    fmt: ManifestFormat = _parse_format(found.pop("format")) if "format" in found else "smooth"
    keyframes = _parse_keyframes(found)
    _check_keyframes(keyframes, name, fmt)
    options = _parse_options(found, allow_audio_only=False)
    time: int | InitTime
    if time_text.lower() == INIT_TIME:
        if fmt not in FMP4_FORMATS or keyframes:
            raise _bad(f"format {fmt!r} has no init segment")
        time = INIT_TIME
    elif _TIME.fullmatch(time_text) and int(time_text) <= _MAX_TIME:
        time = int(time_text)
    else:
        raise _bad(f"malformed fragment time {time_text!r}")
    _check_extension(extension, fmt, time == INIT_TIME, keyframes)
    return FragmentRequest(bitrate, name, time, fmt, keyframes, options, extension)


def _check_extension(extension: str, fmt: ManifestFormat, init: bool, keyframes: bool) -> None:
    """A fragment's extension must be none, or the one its format gives (or .vtt for text)."""
    if not extension or extension == segment_extension(fmt, init=init):
        return
    if extension == TEXT_EXTENSION and fmt != "smooth" and not init and not keyframes:
        return
    raise _bad(f"extension {extension!r} does not match a {fmt} fragment")


# --- formatting ------------------------------------------------------------------------------


def format_modifiers(
    fmt: ManifestFormat | None, options: ManifestOptions, *, keyframes: bool = False
) -> str:
    """The canonical modifier list: format, type, encryption, filter, audio-only."""
    parts = [] if fmt is None or fmt == "smooth" else [f"format={fmt}"]
    if keyframes:
        parts.append("type=keyframes")
    if options.encryption is not None:
        parts.append(f"encryption={options.encryption}")
    if options.filters:
        parts.append("filter=" + ";".join(options.filters))
    if not options.audio_only:
        parts.append("audio-only=false")
    return ",".join(parts)


def quality_levels(bitrate: int | str) -> str:
    """The ``QualityLevels({bitrate})/`` directory of a rendition (bitrate may be a template)."""
    return f"QualityLevels({bitrate})/"


def segment_extension(
    fmt: ManifestFormat, *, init: bool = False, kind: SegmentKind = "video"
) -> str:
    """The file extension of a segment URL in manifests: what the bytes are.

    ``.ts`` (MPEG-TS), ``.mp4`` (fMP4 init segment), ``.m4s`` (fMP4 fragment),
    ``.vtt`` (text tracks, WebVTT); '' for Smooth, whose clients build the URL
    from the manifest's ``Url`` template as AMS defined it.
    """
    if fmt == "smooth":
        return ""
    if kind == "text":
        return TEXT_EXTENSION
    if init:
        return ".mp4"
    return ".ts" if fmt in TS_FORMATS else ".m4s"


def _playlist_path(
    track: str, fmt: HlsFormat, options: ManifestOptions, keyframes: bool, extension: str
) -> str:
    modifiers = format_modifiers(fmt, options.for_children(), keyframes=keyframes)
    return f"Manifest({track},{modifiers}){extension}"


def playlist_name(
    track: str, fmt: HlsFormat, options: ManifestOptions = NO_OPTIONS, *, keyframes: bool = False
) -> str:
    """``Manifest(track,format=...).m3u8``: a media playlist relative to its QualityLevels."""
    return _playlist_path(track, fmt, options, keyframes, PLAYLIST_EXTENSION)


def _fragment_path(
    track: str,
    time: str,
    fmt: ManifestFormat,
    options: ManifestOptions,
    keyframes: bool,
    extension: str,
) -> str:
    modifiers = format_modifiers(fmt, options.for_children(), keyframes=keyframes)
    return f"Fragments({track}={time}{',' if modifiers else ''}{modifiers}){extension}"


def fragment_name(
    track: str,
    time: str,
    fmt: ManifestFormat,
    options: ManifestOptions = NO_OPTIONS,
    *,
    keyframes: bool = False,
    kind: SegmentKind = "video",
) -> str:
    """``Fragments(track=time,...).ext`` relative to its QualityLevels: the one function every
    builder forms segment URLs with.

    ``time`` is text so templates can pass ``$Time$`` or ``{start time}``; 'i'
    names the init segment. The extension is :func:`segment_extension`'s.
    """
    extension = segment_extension(fmt, init=time == INIT_TIME, kind=kind)
    return _fragment_path(track, time, fmt, options, keyframes, extension)


def format_streaming_path(request: StreamingRequest) -> str:
    """The canonical path of a request (the inverse of :func:`parse_streaming_path`)."""
    if isinstance(request, ManifestRequest):
        modifiers = format_modifiers(request.format, request.options)
        body = f"manifest({modifiers})" if modifiers else "manifest"
        return body + request.extension
    if not request.options.audio_only:
        raise ValueError("audio-only applies to manifests only")
    if isinstance(request, PlaylistRequest):
        name = _playlist_path(
            request.track, request.format, request.options, request.keyframes, request.extension
        )
        return quality_levels(request.bitrate) + name
    name = _fragment_path(
        request.track,
        str(request.time),
        request.format,
        request.options,
        request.keyframes,
        request.extension,
    )
    return quality_levels(request.bitrate) + name
