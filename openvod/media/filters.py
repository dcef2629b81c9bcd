"""Dynamic manifest filters applied to a presentation (AMS asset and account filters).

A :class:`ManifestFilter` trims the presentation to a time range, keeps the
renditions its track selections match and may name the bitrate HLS lists
first. :func:`apply_filters` combines several (time ranges intersected,
every filter's track selections applied) into a new :class:`Presentation`
whose renditions keep whole segments only: every kept segment starts at the
same time as in the unfiltered presentation, so its URL and bytes are the
same and caches share it. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from openvod.errors import NotFoundError
from openvod.media.presentation import Presentation, Rendition
from openvod.media.track import SampleTable

TrackProperty = Literal["Type", "Name", "Language", "FourCC", "Bitrate"]


@dataclass(frozen=True)
class Condition:
    """``property`` ``operation`` ``value`` on one rendition (AMS FilterTrackPropertyCondition)."""

    property: TrackProperty
    value: str
    equal: bool = True  # False for NotEqual

    def matches(self, rendition: Rendition) -> bool:
        """Whether the rendition meets this condition."""
        return _holds(self.property, self.value, rendition) == self.equal


@dataclass(frozen=True)
class ManifestFilter:
    """One filter: a time range in seconds, track selection groups, a first-quality bitrate.

    A rendition is selected when every condition of any one group holds; no
    groups select every rendition.
    """

    start_seconds: float | None = None
    end_seconds: float | None = None
    groups: tuple[tuple[Condition, ...], ...] = ()
    first_quality_bps: int | None = None

    def selects(self, rendition: Rendition) -> bool:
        """Whether this filter keeps the rendition."""
        if not self.groups:
            return True
        return any(all(c.matches(rendition) for c in group) for group in self.groups)


def _holds(prop: TrackProperty, value: str, rendition: Rendition) -> bool:
    if prop == "Type":
        return rendition.kind == value.lower()
    if prop == "Name":
        return value.lower() in (rendition.track_name.lower(), rendition.title.lower())
    if prop == "Language":
        return _language(rendition.language) == _language(value)
    if prop == "FourCC":
        return rendition.track.codec.lower() == value.lower()
    low, _, high = value.partition("-")
    return int(low) <= rendition.bitrate_bps <= int(high or low)


def _language(code: str) -> str:
    """The primary subtag, lower case ('en-US' -> 'en')."""
    return code.split("-")[0].lower()


def apply_filters(p: Presentation, filters: Sequence[ManifestFilter]) -> Presentation:
    """The presentation ``filters`` leave, all of them combined.

    Raises NotFoundError when they leave no rendition or no segment.
    """
    if not filters:
        return p
    start = max((f.start_seconds for f in filters if f.start_seconds is not None), default=0.0)
    end = min((f.end_seconds for f in filters if f.end_seconds is not None), default=math.inf)
    video = [r for r in p.video if all(f.selects(r) for f in filters)]
    audio = [r for r in p.audio if all(f.selects(r) for f in filters)]
    trimmed_video = [t for t in (_trim(r, start, end) for r in video) if t is not None]
    trimmed_audio = [t for t in (_trim(r, start, end) for r in audio) if t is not None]
    if not trimmed_video and not trimmed_audio:
        raise NotFoundError("The filters leave nothing to stream.")
    first = next((f.first_quality_bps for f in reversed(filters) if f.first_quality_bps), None)
    if first is not None:
        trimmed_video.sort(key=lambda r: (abs(r.bitrate_bps - first), -r.bitrate_bps))
        trimmed_video[1:] = sorted(trimmed_video[1:], key=lambda r: -r.bitrate_bps)
    kept = trimmed_video + trimmed_audio
    begin = min(float(r.start_ticks[0]) / r.timescale for r in kept)
    finish = max(float(r.start_ticks[-1]) / r.timescale for r in kept)
    duration = min(p.duration_seconds, finish) - max(begin, 0.0)
    return Presentation(p.name, tuple(trimmed_video), tuple(trimmed_audio), duration, p.movies)


def _trim(r: Rendition, start: float, end: float) -> Rendition | None:
    """The rendition's segments overlapping ``[start, end)`` seconds; None if none does."""
    seconds = r.start_ticks / r.timescale
    keep = np.flatnonzero((seconds[1:] > start) & (seconds[:-1] < end))
    if not len(keep):
        return None
    first, last = int(keep[0]), int(keep[-1])
    if first == 0 and last == r.segment_count - 1:
        return r
    begin = int(r.boundaries[first])
    stop = int(r.boundaries[last + 1]) if last + 1 < r.segment_count else len(r.track.samples)
    s = r.track.samples
    samples = SampleTable(s.dts[begin:stop], s.cts_offset[begin:stop], s.duration[begin:stop],
                          s.size[begin:stop], s.offset[begin:stop], s.sync[begin:stop])
    track = replace(r.track, samples=samples)
    boundaries = r.boundaries[first:last + 1] - begin
    starts = r.start_ticks[first:last + 2].copy()
    return Rendition(r.source, track, boundaries, starts,
                     presentation_offset_ticks=int(starts[0]))
