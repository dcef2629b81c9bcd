"""What the origin streams for one asset: renditions with their segment timelines.

Built once per asset from the server manifest's listing (or derived from the
MP4s) and the MP4s' sample indexes, then cached; every manifest and segment
request is answered from it. Pure: no I/O.

This module's data model is the contract between the manifest builders
(``hls.py``, ``dash.py``, ``smooth.py``) and the origin's HTTP layer.

Timelines use decode times (``dts``, equal to the fragments' ``tfdt``). Video
segments start at keyframes about ``target_segment_seconds`` apart and every
video rendition must cut at the same times; audio segments start at the
sample nearest each video cut (audio-only assets cut audio every ~2 s).
Everything is numpy over the sample arrays: a 2-hour asset builds in a few
milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media.segments import align_audio, presentation_times, segment_boundaries
from openvod.media.track import Movie, Track
from openvod.media.urls import NAME_PATTERN, VIDEO_TRACK

# Renditions whose cuts differ by less than this (timescale rounding) count as aligned.
ALIGNMENT_TOLERANCE_SECONDS = 0.001
_CODEC_NAMES = {"mp4a": "aac", "ec-3": "eac3", "ac-3": "ac3", "Opus": "opus", "fLaC": "flac"}
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.~-]")
_NAME = re.compile(NAME_PATTERN)
_END_WINDOW_SAMPLES = 64  # enough to cover any B-frame reordering at the end of a track
MAX_CACHE_ENTRIES = 32  # memoised texts per rendition or presentation
T = TypeVar("T")


@dataclass(frozen=True)
class StreamSource:
    """One track the server manifest (.ism) lists: which file, which track, what bitrate.

    ``track_id`` 0 means the file's first track of the kind; ``bitrate_bps`` 0
    means the track's own. ``language`` and ``title`` (the .ism's
    ``systemLanguage`` and ``title``) override the track's ``mdhd`` language
    and name the rendition in manifests.
    """

    file_name: str  # blob name of the MP4 inside the asset
    kind: Literal["video", "audio"]
    track_id: int
    bitrate_bps: int  # the .ism systemBitrate; identifies the rendition in URLs
    track_name: str = ""  # audio: e.g. 'aac_und_2_128'; video: ''
    language: str = ""
    title: str = ""


@dataclass(frozen=True, eq=False)
class Rendition:
    """One streamed track with its segment timeline (all arrays in the track's timescale).

    Derived figures (bitrates, keyframes) are computed once on first use;
    ``cache`` holds text the manifest builders memoise per rendition.
    """

    source: StreamSource
    track: Track
    boundaries: npt.NDArray[np.int64]  # first sample index of each segment (len N)
    start_ticks: npt.NDArray[np.int64]  # segment start decode times (len N + 1; last = end)
    cache: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)
    presentation_offset_ticks: int = 0  # where a time-filtered timeline starts (DASH)

    @property
    def segment_count(self) -> int:
        """Number of segments."""
        return int(self.boundaries.shape[0])

    @property
    def bitrate_bps(self) -> int:
        """The rendition's identifying bitrate."""
        return self.source.bitrate_bps

    @property
    def kind(self) -> Literal["video", "audio"]:
        """'video' or 'audio'."""
        return self.source.kind

    @property
    def track_name(self) -> str:
        """The name in URLs: 'video', or the audio track's name."""
        return VIDEO_TRACK if self.source.kind == "video" else self.source.track_name

    @property
    def language(self) -> str:
        """The language manifests announce: the .ism's, else the track's ('und' if none)."""
        return self.source.language or self.track.language

    @property
    def title(self) -> str:
        """The human name the .ism gives the track ('' when none)."""
        return self.source.title

    @property
    def timescale(self) -> int:
        """Ticks per second of every time in this rendition."""
        return self.track.timescale

    @cached_property
    def durations_ticks(self) -> npt.NDArray[np.int64]:
        """Each segment's duration in ticks."""
        return np.diff(self.start_ticks)

    @cached_property
    def segment_sizes_bytes(self) -> npt.NDArray[np.int64]:
        """Each segment's sample bytes."""
        sizes = self.track.samples.size.astype(np.int64)
        return np.add.reduceat(sizes, self.boundaries) if len(sizes) else sizes

    @cached_property
    def average_bitrate_bps(self) -> int:
        """Sample bytes over the timeline's duration, in bits per second."""
        ticks = max(int(self.start_ticks[-1] - self.start_ticks[0]), 1)
        return round(int(self.segment_sizes_bytes.sum()) * 8 * self.timescale / ticks)

    @cached_property
    def peak_bitrate_bps(self) -> int:
        """The highest bitrate of any one segment."""
        return _peak_bps(self.segment_sizes_bytes, self.durations_ticks, self.timescale)

    @cached_property
    def keyframe_samples(self) -> npt.NDArray[np.int64]:
        """Sample indices of the sync samples."""
        return np.flatnonzero(self.track.samples.sync).astype(np.int64)

    @cached_property
    def keyframe_start_ticks(self) -> npt.NDArray[np.int64]:
        """Decode times of the sync samples, then the end of the track (len K + 1)."""
        return np.append(self.track.samples.dts[self.keyframe_samples], self.start_ticks[-1])

    @cached_property
    def keyframe_peak_bitrate_bps(self) -> int:
        """The highest bitrate of a keyframes-only stream (I-frame playlists)."""
        sizes = self.track.samples.size[self.keyframe_samples].astype(np.int64)
        return _peak_bps(sizes, np.diff(self.keyframe_start_ticks), self.timescale)

    def segment_samples(self, index: int) -> tuple[int, int]:
        """The sample range ``[first, end)`` of segment ``index``."""
        if not 0 <= index < self.segment_count:
            raise IndexError(f"segment {index} out of range 0..{self.segment_count - 1}")
        end = (
            int(self.boundaries[index + 1])
            if index + 1 < self.segment_count
            else len(self.track.samples)
        )
        return int(self.boundaries[index]), end


def remember(cache: dict[Hashable, Any], key: Hashable, value: T) -> T:
    """Store ``value`` in a builder cache, evicting the oldest entries beyond a bound.

    Keys include the request's modifiers (encryption, filter names), so the
    bound keeps a client inventing filter names from growing memory.
    """
    while len(cache) >= MAX_CACHE_ENTRIES:
        try:
            cache.pop(next(iter(cache)), None)
        except (RuntimeError, StopIteration):  # another thread changed it meanwhile
            break
    cache[key] = value
    return value


def _peak_bps(
    sizes: npt.NDArray[np.int64], durations: npt.NDArray[np.int64], timescale: int
) -> int:
    if not len(sizes):
        return 0
    rates = sizes * 8 * timescale / np.maximum(durations, 1)
    return int(np.ceil(rates.max()))


@dataclass(frozen=True)
class Presentation:
    """Everything streamed for one asset's manifest name."""

    name: str  # the manifest name in URLs: /{locator}/{name}.ism/...
    video: tuple[Rendition, ...]  # highest bitrate first
    audio: tuple[Rendition, ...]
    duration_seconds: float
    movies: dict[str, Movie]  # file name -> parsed movie (for init segments)
    cache: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def renditions(self) -> tuple[Rendition, ...]:
        """Video then audio renditions."""
        return self.video + self.audio


# --- lookups for the origin ------------------------------------------------------------------


def find_segment(rendition: Rendition, time_ticks: int) -> int | None:
    """The index of the segment starting exactly at ``time_ticks``, or None."""
    starts = rendition.start_ticks[:-1]
    index = int(np.searchsorted(starts, time_ticks))
    if index < len(starts) and int(starts[index]) == time_ticks:
        return index
    return None


def find_keyframe(rendition: Rendition, time_ticks: int) -> int | None:
    """The sample index of the keyframe decoded exactly at ``time_ticks``, or None."""
    times = rendition.keyframe_start_ticks[:-1]
    index = int(np.searchsorted(times, time_ticks))
    if index < len(times) and int(times[index]) == time_ticks:
        return int(rendition.keyframe_samples[index])
    return None


def find_rendition(presentation: Presentation, bitrate_bps: int, track: str) -> Rendition | None:
    """The rendition a URL names by ``QualityLevels(bitrate)`` and track name, or None.

    ``track`` is 'video' or an audio track name; 'audio' matches any audio
    rendition of that bitrate (the generic Smooth name).
    """
    if track == VIDEO_TRACK:
        candidates = presentation.video
    else:
        candidates = tuple(r for r in presentation.audio if track in (r.track_name, "audio"))
    return next((r for r in candidates if r.bitrate_bps == bitrate_bps), None)


def audio_segment_for(
    presentation: Presentation, video: Rendition, index: int
) -> tuple[Rendition, int] | None:
    """The default audio's segment that goes with video segment ``index`` (muxed HLS v3).

    Audio cuts were placed next to the video cuts, so this is the audio
    segment starting nearest the video segment's start; None without audio.
    """
    if not presentation.audio:
        return None
    audio = presentation.audio[0]
    video_start = int(video.start_ticks[index]) / video.timescale
    audio_starts = audio.start_ticks[:-1] / audio.timescale
    nearest = int(np.argmin(np.abs(audio_starts - video_start)))
    return audio, nearest


# --- building --------------------------------------------------------------------------------


def build_presentation(
    name: str,
    sources: Sequence[StreamSource],
    movies: Mapping[str, Movie],
    *,
    target_segment_seconds: float = 2.0,
) -> Presentation:
    """Resolve ``sources`` against the parsed ``movies`` and lay out every segment timeline.

    Raises MediaError when a source names a missing file or track, bitrates
    collide, or the video renditions are not GOP-aligned.
    """
    if target_segment_seconds <= 0:
        raise ValueError("target_segment_seconds must be positive")
    if not sources:
        raise MediaError(f"presentation {name!r} lists no audio or video track")
    tracks = [_resolve_track(s, movies) for s in sources]
    sources = [replace(s, track_id=t.track_id) for s, t in zip(sources, tracks, strict=True)]
    sources = _with_bitrates(sources, tracks)
    named = [_with_track_name(s, t) for s, t in zip(sources, tracks, strict=True)]
    _check_unique(named)
    video = [
        _video_rendition(s, t, target_segment_seconds)
        for s, t in zip(named, tracks, strict=True)
        if s.kind == "video"
    ]
    video.sort(key=lambda r: -r.bitrate_bps)
    _check_alignment(video)
    cuts_seconds: npt.NDArray[np.float64] | None = None
    if video:
        reference = video[0]
        cuts = presentation_times(reference.track)[reference.boundaries]
        cuts_seconds = cuts / reference.timescale
    audio = [
        _audio_rendition(s, t, cuts_seconds, target_segment_seconds)
        for s, t in zip(named, tracks, strict=True)
        if s.kind == "audio"
    ]
    renditions = (*video, *audio)
    duration = max(_end_seconds(r.track) for r in renditions)
    used = {s.file_name: movies[s.file_name] for s in named}
    return Presentation(name, tuple(video), tuple(audio), duration, used)


def _resolve_track(source: StreamSource, movies: Mapping[str, Movie]) -> Track:
    movie = movies.get(source.file_name)
    if movie is None:
        raise MediaError(f"{source.file_name!r} is listed for streaming but was not found")
    if source.track_id == 0:  # not given: the first track of the kind
        track = next((t for t in movie.tracks if t.kind == source.kind), None)
        if track is None:
            raise MediaError(f"{source.file_name!r} has no {source.kind} track")
    else:
        track = next((t for t in movie.tracks if t.track_id == source.track_id), None)
    if track is None:
        raise MediaError(f"{source.file_name!r} has no track {source.track_id}")
    if track.kind != source.kind:
        raise MediaError(
            f"track {source.track_id} of {source.file_name!r} is {track.kind}, not {source.kind}"
        )
    if not len(track.samples):
        raise MediaError(f"track {source.track_id} of {source.file_name!r} has no samples")
    return track


def _with_bitrates(sources: Sequence[StreamSource], tracks: Sequence[Track]) -> list[StreamSource]:
    """Sources whose manifest gave no bitrate (AMS wrote ``.ism`` files without
    ``systemBitrate``) take their track's own: made unique against the others."""
    used = {s.bitrate_bps for s in sources if s.bitrate_bps > 0}
    filled = []
    for source, track in zip(sources, tracks, strict=True):
        if source.bitrate_bps <= 0:
            bitrate = _unique_bitrate(_track_bitrate(track), used)
            source = replace(source, bitrate_bps=bitrate)
        filled.append(source)
    return filled


def default_track_name(track: Track, bitrate_bps: int, language: str = "") -> str:
    """An AMS-style audio track name: ``{codec}_{language}_{channels}_{kbps}``
    (``language`` overrides the track's own)."""
    codec = _CODEC_NAMES.get(track.codec, track.codec.lower())
    kbps = round(bitrate_bps / 1000)
    language = language or track.language
    return _NOT_NAME.sub("_", f"{codec}_{language}_{track.channels}_{kbps}")


def _with_track_name(source: StreamSource, track: Track) -> StreamSource:
    """The source with a usable audio track name (derived when empty, sanitised otherwise)."""
    if source.kind == "video":
        return source
    name = source.track_name or default_track_name(track, source.bitrate_bps, source.language)
    name = _NOT_NAME.sub("_", name)
    if name.lower() in (VIDEO_TRACK, "audio") or not _NAME.fullmatch(name):
        raise MediaError(f"audio track name {source.track_name!r} cannot be used in URLs")
    return source if name == source.track_name else replace(source, track_name=name)


def _check_unique(sources: Sequence[StreamSource]) -> None:
    """Every rendition must be addressable by (bitrate, track name)."""
    seen: set[tuple[int, str]] = set()
    for source in sources:
        if source.bitrate_bps <= 0:
            raise MediaError(f"{source.file_name!r}: bitrate must be positive")
        key = (source.bitrate_bps, source.track_name if source.kind == "audio" else VIDEO_TRACK)
        if key in seen:
            raise MediaError(f"two {source.kind} renditions share bitrate {source.bitrate_bps}")
        seen.add(key)


def _video_rendition(source: StreamSource, track: Track, target_seconds: float) -> Rendition:
    boundaries = segment_boundaries(track, max(round(target_seconds * track.timescale), 1))
    return Rendition(source, track, boundaries, _start_ticks(track, boundaries))


def _audio_rendition(
    source: StreamSource,
    track: Track,
    cuts_seconds: npt.NDArray[np.float64] | None,
    target_seconds: float,
) -> Rendition:
    if cuts_seconds is None:  # audio only: cut next to every multiple of the target
        end_seconds = int(track.samples.dts[-1]) / track.timescale
        cuts_seconds = np.arange(0.0, end_seconds, target_seconds)
    boundaries = align_audio(track, cuts_seconds)
    return Rendition(source, track, boundaries, _start_ticks(track, boundaries))


def _start_ticks(track: Track, boundaries: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    samples = track.samples
    end = int(samples.dts[-1]) + int(samples.duration[-1])
    return np.append(samples.dts[boundaries], end).astype(np.int64)


def _end_seconds(track: Track) -> float:
    """When the track's last sample stops being presented."""
    samples = track.samples
    tail = slice(max(len(samples) - _END_WINDOW_SAMPLES, 0), None)
    ends = samples.dts[tail] + samples.cts_offset[tail] + samples.duration[tail].astype(np.int64)
    return float(ends.max()) / track.timescale


def _check_alignment(video: Sequence[Rendition]) -> None:
    """Every video rendition must cut at the reference's times (within the tolerance)."""
    if len(video) < 2:
        return
    reference = video[0]
    ref_seconds = reference.start_ticks[:-1] / reference.timescale
    for other in video[1:]:
        if other.timescale == reference.timescale and np.array_equal(
            other.start_ticks[:-1], reference.start_ticks[:-1]
        ):
            continue
        seconds = other.start_ticks[:-1] / other.timescale
        count = min(len(seconds), len(ref_seconds))
        differs = np.flatnonzero(
            np.abs(seconds[:count] - ref_seconds[:count]) > ALIGNMENT_TOLERANCE_SECONDS
        )
        if not len(differs) and len(seconds) == len(ref_seconds):
            continue
        at = int(differs[0]) if len(differs) else count
        ours = f"{ref_seconds[at]:.3f} s" if at < len(ref_seconds) else "the end"
        theirs = f"{seconds[at]:.3f} s" if at < len(seconds) else "the end"
        raise MediaError(
            "video renditions are not GOP-aligned: segment "
            f"{at} starts at {ours} in {reference.source.file_name!r} but at {theirs} in "
            f"{other.source.file_name!r} ({len(ref_seconds)} vs {len(seconds)} segments); "
            "encode every rendition with keyframes at the same times"
        )


def derive_sources(movies: Mapping[str, Movie]) -> list[StreamSource]:
    """Stream sources for an asset with MP4s but no .ism.

    The first video track of every file; every audio track of the first file
    that has any (one rendition per track: e.g. one per ``mdhd`` language),
    plus the audio tracks of later files in a language not seen yet (an
    encoded set repeats the same audio in each file). Bitrates come from the
    tracks (or their sample sizes) and are made unique by bumping collisions
    by 1 bps.
    """
    sources: list[StreamSource] = []
    used: set[int] = set()
    languages: set[str] | None = None  # of the audio taken so far; None before any
    for file_name, movie in movies.items():
        video = movie.track("video")
        if video is not None and len(video.samples):
            bitrate = _unique_bitrate(_track_bitrate(video), used)
            sources.append(StreamSource(file_name, "video", video.track_id, bitrate))
        audio = [t for t in movie.tracks if t.kind == "audio" and len(t.samples)]
        if languages is not None:
            audio = [t for t in audio if t.language != "und" and t.language not in languages]
        for track in audio:
            bitrate = _unique_bitrate(_track_bitrate(track), used)
            name = default_track_name(track, bitrate)
            sources.append(StreamSource(file_name, "audio", track.track_id, bitrate, name))
        if audio:
            languages = (languages or set()) | {t.language for t in audio}
    if not sources:
        raise MediaError("none of the asset's MP4 files has an audio or video track")
    return sources


def _track_bitrate(track: Track) -> int:
    if track.bitrate_bps > 0:
        return track.bitrate_bps
    samples = track.samples
    ticks = max(int(samples.duration.sum(dtype=np.int64)), 1)
    return max(round(int(samples.size.sum(dtype=np.int64)) * 8 * track.timescale / ticks), 1)


def _unique_bitrate(bitrate: int, used: set[int]) -> int:
    while bitrate in used:
        bitrate += 1
    used.add(bitrate)
    return bitrate
