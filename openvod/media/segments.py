"""Where segments start: at keyframes for video, next to the video's cuts for audio.

All functions are O(n) (or O(n log n) for searches) numpy over the track's
sample arrays; none loops over samples in Python. Boundaries are arrays of
sample indices in decode order, starting with 0; segment ``i`` is samples
``[boundaries[i], boundaries[i + 1])`` and the last one runs to the end.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from openvod.media.track import Track

IndexArray = npt.NDArray[np.int64]


def presentation_times(track: Track) -> npt.NDArray[np.int64]:
    """Each sample's presentation time in track ticks (``dts + cts_offset``)."""
    samples = track.samples
    return samples.dts + samples.cts_offset.astype(np.int64)


def segment_boundaries(
    track: Track, target_ticks: int, *, tolerance_ticks: int | None = None
) -> IndexArray:
    """Start samples of segments about ``target_ticks`` long (track timescale).

    A segment starts at the first sync sample whose presentation time is at
    or after each multiple of ``target_ticks``; a sync sample up to
    ``tolerance_ticks`` early (default 1% of the target) still counts, so a
    keyframe rounded to just before the mark does not double a segment. With
    keyframes exactly every target duration, every keyframe starts a
    segment. Sample 0 always starts the first segment.
    """
    if target_ticks <= 0:
        raise ValueError("target_ticks must be positive")
    samples = track.samples
    if not len(samples):
        return np.zeros(0, dtype=np.int64)
    tolerance = target_ticks // 100 if tolerance_ticks is None else tolerance_ticks
    candidates = np.flatnonzero(samples.sync)
    if not len(candidates) or candidates[0] != 0:
        candidates = np.concatenate(([0], candidates))
    times = samples.dts[candidates] + samples.cts_offset[candidates].astype(np.int64)
    numbers = np.maximum.accumulate((times + tolerance) // target_ticks)
    starts_new = np.empty(len(candidates), dtype=np.bool_)
    starts_new[0] = True
    starts_new[1:] = numbers[1:] > numbers[:-1]
    return candidates[starts_new].astype(np.int64)


def align_audio(audio: Track, video_boundary_times_seconds: npt.ArrayLike) -> IndexArray:
    """Audio segment starts: the sample whose presentation time is nearest each video cut.

    ``video_boundary_times_seconds`` are the presentation times of the video
    segments' first samples, in order. The first cut is the start of the
    stream, so the first audio segment starts at sample 0 whatever its time
    (priming samples before time 0 stay in it).
    """
    samples = audio.samples
    if not len(samples):
        return np.zeros(0, dtype=np.int64)
    cuts = np.asarray(video_boundary_times_seconds, dtype=np.float64)[1:]
    times = presentation_times(audio) / audio.timescale
    after = np.searchsorted(times, cuts, side="left")
    before = np.clip(after - 1, 0, len(times) - 1)
    after = np.clip(after, 0, len(times) - 1)
    nearest = np.where(np.abs(times[before] - cuts) <= np.abs(times[after] - cuts), before, after)
    chosen = np.unique(nearest)
    return np.concatenate(([0], chosen[chosen > 0])).astype(np.int64)


def segment_durations(track: Track, boundaries: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Each segment's duration in track ticks (decode-time spans; the last runs to the end)."""
    samples = track.samples
    starts_at = np.asarray(boundaries, dtype=np.int64)
    if not len(starts_at):
        return np.zeros(0, dtype=np.int64)
    starts = samples.dts[starts_at]
    end = int(samples.dts[-1]) + int(samples.duration[-1])
    return np.diff(np.append(starts, end)).astype(np.int64)


def segment_start_times(track: Track, boundaries: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Each segment's decode start time in track ticks (the fragments' 'tfdt')."""
    return track.samples.dts[np.asarray(boundaries, dtype=np.int64)]
