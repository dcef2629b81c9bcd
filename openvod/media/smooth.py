"""Smooth Streaming client manifests ([MS-SSTR]) and their fragments.

The manifest (MajorVersion 2, MinorVersion 2, for the ``r`` repeat count)
uses ``TimeScale=10000000``: every time and duration is in 100 ns units
("hns"). Track times are mapped with :func:`track_ticks_to_smooth_time`
(floor) and back with :func:`smooth_time_to_track_ticks` (ceiling), which is
the exact inverse for any timescale up to 10 MHz, so every chunk time in the
manifest leads back to its segment's first decode time.

One StreamIndex for video (all renditions) and one per audio track name. A
StreamIndex has one chunk list for all its QualityLevels: the first
rendition's. :func:`find_smooth_segment` maps a requested time to a segment
index through that list, so renditions whose timescales round differently
still resolve. Chunks are run-length coded (``r`` counts all chunks of the
run, as in dash.js and ExoPlayer).

Smooth clients build their own init segment from the manifest, with the
manifest's timescale, so fragments must carry hns timestamps:
:func:`plan_smooth_fragment` rescales the segment's samples to 10 MHz and adds
the ``tfxd`` box (absolute time and duration) Smooth clients expect.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from html import escape

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media import avc
from openvod.media.mp4 import FragmentPlan, RawBox, plan_fragment
from openvod.media.presentation import Presentation, Rendition, remember
from openvod.media.track import SampleTable, Track
from openvod.media.urls import NO_OPTIONS, ManifestOptions, fragment_name, quality_levels

SMOOTH_TIMESCALE = 10_000_000
# uuid of the 'tfxd' (TfxdBox) box: fragment absolute time and duration.
TFXD_UUID = bytes.fromhex("6D1D9B0542D544E680E2141DAFF757B2")
_AUDIO_FOURCCS = {"mp4a.40.2": "AACL", "mp4a.40.5": "AACH", "mp4a.40.29": "AACH"}
_VIDEO_FOURCCS = {"avc1": "H264", "avc3": "H264", "hvc1": "HVC1", "hev1": "HVC1"}


def track_ticks_to_smooth_time(ticks: int, timescale: int) -> int:
    """Track ticks to 100 ns units (rounded down)."""
    return ticks * SMOOTH_TIMESCALE // timescale


def smooth_time_to_track_ticks(time_hns: int, timescale: int) -> int:
    """100 ns units back to track ticks (rounded up): the exact inverse of
    :func:`track_ticks_to_smooth_time` for timescales up to 10 MHz."""
    return -(-time_hns * timescale // SMOOTH_TIMESCALE)


def _to_hns(ticks: npt.NDArray[np.int64], timescale: int) -> npt.NDArray[np.int64]:
    return ticks.astype(np.int64) * SMOOTH_TIMESCALE // timescale


def stream_reference(p: Presentation, rendition: Rendition) -> Rendition:
    """The rendition whose timeline is the chunk list of ``rendition``'s StreamIndex."""
    if rendition.kind == "video":
        return p.video[0]
    return next(r for r in p.audio if r.track_name == rendition.track_name)


def smooth_start_times(rendition: Rendition) -> npt.NDArray[np.int64]:
    """The rendition's segment starts and end in hns (len N + 1; cached)."""
    key = ("smooth-starts",)
    times: npt.NDArray[np.int64] | None = rendition.cache.get(key)
    if times is None:
        times = remember(rendition.cache, key, _to_hns(rendition.start_ticks, rendition.timescale))
    return times


def find_smooth_segment(p: Presentation, rendition: Rendition, time_hns: int) -> int | None:
    """The segment of ``rendition`` that a manifest chunk time names, or None."""
    starts = smooth_start_times(stream_reference(p, rendition))[:-1]
    index = int(np.searchsorted(starts, time_hns))
    if index < len(starts) and int(starts[index]) == time_hns:
        return index if index < rendition.segment_count else None
    return None


# --- the manifest ----------------------------------------------------------------------------


def _chunks(rendition: Rendition) -> str:
    """The ``<c>`` elements of a StreamIndex, run-length coded (cached)."""
    key = ("smooth-chunks",)
    cached = rendition.cache.get(key)
    if cached is not None:
        return str(cached)
    starts = smooth_start_times(rendition)
    durations = np.diff(starts)
    changes = np.flatnonzero(durations[1:] != durations[:-1]) + 1
    firsts = np.concatenate(([0], changes))
    counts = np.diff(np.append(firsts, len(durations)))
    lines = []
    for index, (start, duration, count) in enumerate(
        zip(starts[firsts].tolist(), durations[firsts].tolist(), counts.tolist(), strict=True)
    ):
        t = f't="{start}" ' if index == 0 else ""
        r = f' r="{count}"' if count > 1 else ""
        lines.append(f'    <c {t}d="{duration}"{r}/>')
    text = "\n".join(lines)
    remember(rendition.cache, key, text)
    return text


def codec_private_data(track: Track) -> str:
    """CodecPrivateData: Annex B parameter sets (video) or the AudioSpecificConfig, in hex."""
    if track.kind == "video":
        config: avc.NalConfig
        if track.codec in ("hvc1", "hev1"):
            config = avc.parse_hvcc(track.codec_private)
        else:
            config = avc.parse_avcc(track.codec_private)
        return b"".join(avc.START_CODE + ps for ps in config.parameter_sets).hex().upper()
    return track.codec_private.hex().upper()


def _video_level(index: int, rendition: Rendition) -> str:
    track = rendition.track
    fourcc = _VIDEO_FOURCCS.get(track.codec)
    if fourcc is None:
        raise MediaError(f"Smooth Streaming cannot carry {track.codec!r} video")
    return (
        f'    <QualityLevel Index="{index}" Bitrate="{rendition.bitrate_bps}" FourCC="{fourcc}" '
        f'MaxWidth="{track.width}" MaxHeight="{track.height}" '
        f'CodecPrivateData="{codec_private_data(track)}"/>'
    )


def _audio_level(index: int, rendition: Rendition) -> str:
    track = rendition.track
    fourcc = _AUDIO_FOURCCS.get(track.codec_string)
    if fourcc is None:
        raise MediaError(f"Smooth Streaming cannot carry {track.codec_string!r} audio")
    return (
        f'    <QualityLevel Index="{index}" Bitrate="{rendition.bitrate_bps}" FourCC="{fourcc}" '
        f'SamplingRate="{track.sample_rate_hz}" Channels="{track.channels}" '
        f'BitsPerSample="16" PacketSize="{2 * track.channels}" AudioTag="255" '
        f'CodecPrivateData="{codec_private_data(track)}"/>'
    )


def _stream_index(renditions: Sequence[Rendition], options: ManifestOptions) -> str:
    first = renditions[0]
    url = quality_levels("{bitrate}") + fragment_name(
        first.track_name, "{start time}", "smooth", options
    )
    attributes = (
        f'Type="{first.kind}" Name="{first.track_name}" Chunks="{first.segment_count}" '
        f'QualityLevels="{len(renditions)}" Url="{url}"'
    )
    if first.kind == "video":
        width = max(r.track.width for r in renditions)
        height = max(r.track.height for r in renditions)
        attributes += (
            f' MaxWidth="{width}" MaxHeight="{height}"'
            f' DisplayWidth="{width}" DisplayHeight="{height}"'
        )
        levels = [_video_level(i, r) for i, r in enumerate(renditions)]
    else:
        attributes += f' Language="{escape(first.language)}"'
        levels = [_audio_level(i, r) for i, r in enumerate(renditions)]
    body = "\n".join([*levels, _chunks(first)])
    return f"  <StreamIndex {attributes}>\n{body}\n  </StreamIndex>"


def build_smooth_manifest(p: Presentation, options: ManifestOptions = NO_OPTIONS) -> str:
    """The Smooth client manifest at ``manifest``; fragment URLs are relative to it."""
    key = ("smooth", options)
    cached = p.cache.get(key)
    if cached is not None:
        return str(cached)
    children = options.for_children()
    streams = [_stream_index(p.video, children)] if p.video else []
    by_name: dict[str, list[Rendition]] = {}
    for rendition in p.audio:
        by_name.setdefault(rendition.track_name, []).append(rendition)
    streams += [_stream_index(group, children) for group in by_name.values()]
    duration = round(p.duration_seconds * SMOOTH_TIMESCALE)
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<SmoothStreamingMedia MajorVersion="2" MinorVersion="2" Duration="{duration}" '
        f'TimeScale="{SMOOTH_TIMESCALE}">\n' + "\n".join(streams) + "\n</SmoothStreamingMedia>\n"
    )
    remember(p.cache, key, text)
    return text


# --- fragments -------------------------------------------------------------------------------


def tfxd_box(time_hns: int, duration_hns: int) -> RawBox:
    """The 'uuid' TfxdBox (version 1): the fragment's absolute time and duration."""
    payload = TFXD_UUID + struct.pack(">B3xQQ", 1, time_hns, duration_hns)
    return RawBox(b"uuid", payload)


def smooth_segment_track(rendition: Rendition, index: int) -> Track:
    """Segment ``index``'s samples as a track in hns (sample ranges stay the same)."""
    first, end = rendition.segment_samples(index)
    samples, track = rendition.track.samples, rendition.track
    window = slice(first, end)
    next_dts = int(rendition.start_ticks[index + 1])
    dts = _to_hns(np.append(samples.dts[window], next_dts), track.timescale)
    # The offsets are rescaled themselves (not via presentation times) so constant
    # offsets such as AAC priming stay constant.
    offsets = _to_hns(samples.cts_offset[window].astype(np.int64), track.timescale)
    hns = SampleTable(
        dts=dts[:-1],
        cts_offset=offsets.astype(np.int32),
        duration=np.diff(dts).astype(np.uint32),
        size=samples.size[window],
        offset=samples.offset[window],
        sync=samples.sync[window],
    )
    return Track(
        track_id=track.track_id,
        kind=track.kind,
        codec=track.codec,
        codec_string=track.codec_string,
        timescale=SMOOTH_TIMESCALE,
        duration_ticks=int(dts[-1] - dts[0]),
        samples=hns,
        sample_entry=track.sample_entry,
        codec_private=track.codec_private,
    )


def plan_smooth_fragment(
    p: Presentation, rendition: Rendition, index: int, *, sequence_number: int | None = None
) -> FragmentPlan:
    """Plan the Smooth fragment (moof with tfdt + tfxd, mdat) of segment ``index``.

    Times are the manifest's chunk times (hns); the sample data ranges are
    those of the stored MP4, as for any other fragment.
    """
    chunk_times = smooth_start_times(stream_reference(p, rendition))
    own_times = smooth_start_times(rendition)
    start = int(chunk_times[index]) if index + 1 < len(chunk_times) else int(own_times[index])
    duration = int(own_times[index + 1] - own_times[index])
    track = smooth_segment_track(rendition, index)
    return plan_fragment(
        track,
        0,
        len(track.samples),
        index + 1 if sequence_number is None else sequence_number,
        base_media_decode_time=start,
        extra_traf_boxes=[tfxd_box(start, duration)],
    )
