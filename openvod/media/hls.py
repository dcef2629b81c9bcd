"""HLS master and media playlists (RFC 8216) for a :class:`Presentation`.

Formats, as AMS named them:

- ``m3u8-aapl-v3``: version 3, MPEG-TS. Every video variant's segments carry
  the default audio muxed in; no EXT-X-MEDIA, no I-frame playlists.
- ``m3u8-aapl``: version 4, MPEG-TS. Audio renditions in one ``"audio"``
  group (separate audio-only TS segments); I-frame playlists.
- ``m3u8-cmaf``: version 7, fragmented MP4 with EXT-X-MAP init segments.

Choices:

- Like AMS, the master playlist also lists an audio-only variant (the
  default audio, for low-bandwidth clients and Apple's store rules) unless the
  request says ``audio-only=false``. Audio-only assets list each audio
  rendition as a variant whatever ``audio-only`` says.
- BANDWIDTH is the peak segment bitrate of the video plus the highest of the
  audio group; AVERAGE-BANDWIDTH the same with averages. For TS formats both
  include an estimate of the TS/PES overhead.
- I-frame playlists do not point at byte ranges inside the TS segments (the
  muxer's packetisation decides those, and the origin builds segments on the
  fly); each entry is a separate keyframe-only fragment,
  ``Fragments(video={keyframe dts},format=...,type=keyframes)``, which the
  origin answers with that one keyframe as a TS (or fMP4) segment.
- EXTINF durations are exact to the microsecond and telescoping: each is the
  difference of the rounded start times, so they sum to the timeline.
- Per-rendition playlist bodies are cached on the rendition (``cache``), so a
  2-hour playlist is formatted once per format and then costs a join.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from openvod.errors import InvalidRequestError
from openvod.media.presentation import Presentation, Rendition, remember
from openvod.media.urls import (
    INIT_TIME,
    NO_OPTIONS,
    HlsFormat,
    ManifestOptions,
    fragment_name,
    playlist_name,
    quality_levels,
)

VERSIONS: dict[HlsFormat, int] = {"m3u8-aapl-v3": 3, "m3u8-aapl": 4, "m3u8-cmaf": 7}
AUDIO_GROUP = "audio"
# Estimated TS cost on top of the sample bytes. Per sample: for video one PES per frame
# (header, AUD, PCR adaptation field, on average over half a TS packet of stuffing); for
# audio a 7-byte ADTS header per frame and one PES per few frames. Per segment: PAT, PMT
# and at most 15 packets that keep the continuity counters running across segments.
TS_BYTES_PER_SAMPLE = {"video": 140, "audio": 14}
TS_BYTES_PER_SEGMENT = 17 * 188
TS_PAYLOAD_RATIO = 188 / 184  # TS header per packet
_PLACEHOLDER = "\x00"


def _is_ts(fmt: HlsFormat) -> bool:
    return fmt != "m3u8-cmaf"


def _bandwidths(rendition: Rendition, fmt: HlsFormat) -> tuple[int, int]:
    """(peak, average) bits per second of the rendition as served in ``fmt``."""
    if not _is_ts(fmt):
        return rendition.peak_bitrate_bps, rendition.average_bitrate_bps
    key = ("hls-ts-bandwidth",)
    cached = rendition.cache.get(key)
    if cached is None:
        counts = np.diff(np.append(rendition.boundaries, len(rendition.track.samples)))
        ts_bytes = (
            rendition.segment_sizes_bytes * TS_PAYLOAD_RATIO
            + counts * TS_BYTES_PER_SAMPLE[rendition.kind]
            + TS_BYTES_PER_SEGMENT
        )
        seconds = np.maximum(rendition.durations_ticks, 1) / rendition.timescale
        peak = int(np.ceil((ts_bytes * 8 / seconds).max()))
        average = round(float(ts_bytes.sum()) * 8 / float(seconds.sum()))
        cached = remember(rendition.cache, key, (peak, average))
    return int(cached[0]), int(cached[1])


def _codecs(*renditions: Rendition) -> str:
    """The distinct RFC 6381 codec strings, in order."""
    return ",".join(dict.fromkeys(r.track.codec_string for r in renditions))


def _video_attributes(video: Rendition) -> str:
    track = video.track
    text = f",RESOLUTION={track.width}x{track.height}" if track.width and track.height else ""
    if track.frame_rate:
        text += f",FRAME-RATE={float(track.frame_rate):.3f}"
    return text


def _playlist_uri(rendition: Rendition, fmt: HlsFormat, options: ManifestOptions) -> str:
    name = playlist_name(rendition.track_name, fmt, options)
    return quality_levels(rendition.bitrate_bps) + name


def _audio_names(audio: Sequence[Rendition]) -> list[str]:
    """NAME values, unique within the group: the .ism title, else the track name (plus the
    bitrate when shared)."""
    names = [r.title or r.track_name for r in audio]
    return [
        name if names.count(name) == 1 else f"{name}_{r.bitrate_bps}"
        for name, r in zip(names, audio, strict=True)
    ]


def quoted_string(text: str) -> str:
    """``text`` as an RFC 8216 quoted-string value: no double quote, CR or LF inside."""
    return text.replace('"', "'").replace("\r", " ").replace("\n", " ")


def _media_lines(audio: Sequence[Rendition], fmt: HlsFormat, options: ManifestOptions) -> list[str]:
    """One EXT-X-MEDIA per audio rendition (one per language for a multi-language asset);
    the first is the DEFAULT."""
    lines = []
    for index, (rendition, name) in enumerate(zip(audio, _audio_names(audio), strict=True)):
        track = rendition.track
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="{quoted_string(name)}",'
            f'LANGUAGE="{quoted_string(rendition.language)}",'
            f'DEFAULT={"YES" if index == 0 else "NO"},'
            f'AUTOSELECT=YES,CHANNELS="{track.channels}",'
            f'URI="{_playlist_uri(rendition, fmt, options)}"'
        )
    return lines


def _stream_inf(bandwidths: tuple[int, int], codecs: str, extra: str) -> str:
    peak, average = bandwidths
    return (
        f'#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS="{codecs}"{extra}'
    )


def _grouped_variants(
    p: Presentation, fmt: HlsFormat, options: ManifestOptions, audio_only: bool
) -> list[str]:
    """Video variants referring to the audio group (m3u8-aapl, m3u8-cmaf)."""
    audio = p.audio
    audio_peak = max((_bandwidths(a, fmt)[0] for a in audio), default=0)
    audio_average = max((_bandwidths(a, fmt)[1] for a in audio), default=0)
    group = f',AUDIO="{AUDIO_GROUP}"' if audio else ""
    lines = _media_lines(audio, fmt, options)
    for video in p.video:
        peak, average = _bandwidths(video, fmt)
        bandwidths = (peak + audio_peak, average + audio_average)
        lines.append(
            _stream_inf(bandwidths, _codecs(video, *audio), _video_attributes(video) + group)
        )
        lines.append(_playlist_uri(video, fmt, options))
    if audio and audio_only:
        lines.append(_stream_inf((audio_peak, audio_average), _codecs(*audio), group))
        lines.append(_playlist_uri(audio[0], fmt, options))
    for video in p.video:
        uri = quality_levels(video.bitrate_bps) + playlist_name(
            video.track_name, fmt, options, keyframes=True
        )
        track = video.track  # no FRAME-RATE here (RFC 8216 4.3.4.3)
        lines.append(
            f"#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={video.keyframe_peak_bitrate_bps},"
            f'CODECS="{track.codec_string}",RESOLUTION={track.width}x{track.height},URI="{uri}"'
        )
    return lines


def _muxed_variants(p: Presentation, options: ManifestOptions, audio_only: bool) -> list[str]:
    """Video variants with the default audio muxed into their TS segments (m3u8-aapl-v3)."""
    fmt: HlsFormat = "m3u8-aapl-v3"
    default = p.audio[:1]
    audio_peak, audio_average = _bandwidths(default[0], fmt) if default else (0, 0)
    lines = []
    for video in p.video:
        peak, average = _bandwidths(video, fmt)
        bandwidths = (peak + audio_peak, average + audio_average)
        lines.append(_stream_inf(bandwidths, _codecs(video, *default), _video_attributes(video)))
        lines.append(_playlist_uri(video, fmt, options))
    if default and audio_only:
        lines.append(_stream_inf((audio_peak, audio_average), _codecs(*default), ""))
        lines.append(_playlist_uri(default[0], fmt, options))
    return lines


def build_master_playlist(
    p: Presentation, fmt: HlsFormat, options: ManifestOptions = NO_OPTIONS
) -> str:
    """The master playlist at ``manifest(format=...)``; URIs are relative to it."""
    key = ("hls-master", fmt, options)
    cached = p.cache.get(key)
    if cached is not None:
        return str(cached)
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{VERSIONS[fmt]}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    children = options.for_children()
    if not p.video:
        for audio in p.audio:
            lines.append(_stream_inf(_bandwidths(audio, fmt), _codecs(audio), ""))
            lines.append(_playlist_uri(audio, fmt, children))
    elif fmt == "m3u8-aapl-v3":
        lines += _muxed_variants(p, children, options.audio_only)
    else:
        lines += _grouped_variants(p, fmt, children, options.audio_only)
    text = "\n".join(lines) + "\n"
    remember(p.cache, key, text)
    return text


# --- media playlists -------------------------------------------------------------------------


def format_durations(start_ticks: npt.NDArray[np.int64], timescale: int) -> list[str]:
    """EXTINF values of consecutive segments: microsecond-exact, 3 or 6 decimals.

    Each is the difference of the rounded start and end times, so the
    values add up to the rounded total whatever the segment count.
    """
    micros = (start_ticks.astype(np.int64) * 1_000_000 + timescale // 2) // timescale
    # A long asset has thousands of segments but a handful of distinct durations:
    # format each distinct one once.
    distinct, inverse = np.unique(np.diff(micros), return_inverse=True)
    texts = []
    for duration in distinct.tolist():
        whole, frac = divmod(duration, 1_000_000)
        texts.append(f"{whole}.{frac // 1000:03d}" if frac % 1000 == 0 else f"{whole}.{frac:06d}")
    return [texts[i] for i in inverse.tolist()]


def _target_duration(start_ticks: npt.NDArray[np.int64], timescale: int) -> int:
    longest = int(np.diff(start_ticks).max()) if len(start_ticks) > 1 else 0
    return max(-(-longest // timescale), 1)


def _timeline(rendition: Rendition, keyframes: bool) -> npt.NDArray[np.int64]:
    return rendition.keyframe_start_ticks if keyframes else rendition.start_ticks


def _playlist_body(
    rendition: Rendition, fmt: HlsFormat, keyframes: bool, options: ManifestOptions
) -> str:
    """The EXTINF/URI lines of every segment (cached on the rendition)."""
    key = ("hls-body", fmt, keyframes, options)
    cached = rendition.cache.get(key)
    if cached is not None:
        return str(cached)
    starts = _timeline(rendition, keyframes)
    template = fragment_name(rendition.track_name, _PLACEHOLDER, fmt, options, keyframes=keyframes)
    prefix, suffix = template.split(_PLACEHOLDER)
    durations = format_durations(starts, rendition.timescale)
    body = "".join(
        f"#EXTINF:{duration},\n{prefix}{start}{suffix}\n"
        for duration, start in zip(durations, starts[:-1].tolist(), strict=True)
    )
    remember(rendition.cache, key, body)
    return body


def build_media_playlist(
    p: Presentation,
    rendition: Rendition,
    fmt: HlsFormat,
    *,
    keyframes: bool = False,
    options: ManifestOptions = NO_OPTIONS,
    key_tags: Sequence[str] = (),
    map_key_tags: Sequence[str] = (),
) -> str:
    """The media playlist at ``QualityLevels(b)/Manifest(track,format=...)``.

    With ``keyframes`` it is the I-frame playlist (video, m3u8-aapl or
    m3u8-cmaf only). ``key_tags`` (e.g. ``#EXT-X-KEY:...`` lines) go after
    the EXT-X-MAP, so they apply to every segment but not the init section;
    ``map_key_tags`` go before it (an encrypted init section).
    Segment URIs are relative to the playlist. ``p`` is the presentation the
    rendition belongs to.
    """
    if keyframes and (rendition.kind != "video" or fmt == "m3u8-aapl-v3"):
        raise InvalidRequestError("I-frame playlists exist for video in m3u8-aapl/m3u8-cmaf only")
    children = options.for_children()
    starts = _timeline(rendition, keyframes)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSIONS[fmt]}",
        f"#EXT-X-TARGETDURATION:{_target_duration(starts, rendition.timescale)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    if keyframes:
        lines.append("#EXT-X-I-FRAMES-ONLY")
    if not _is_ts(fmt):
        init = fragment_name(rendition.track_name, INIT_TIME, fmt, children)
        lines += map_key_tags
        lines.append(f'#EXT-X-MAP:URI="{init}"')
    lines += key_tags
    head = "\n".join(lines) + "\n"
    return head + _playlist_body(rendition, fmt, keyframes, children) + "#EXT-X-ENDLIST\n"
