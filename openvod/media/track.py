"""The in-memory model of a stored MP4 the origin packages from.

A :class:`Track` keeps its samples as parallel numpy arrays (never a Python
object per sample) so that a 2-hour asset costs a few MB and slicing a
segment's samples is a vectorised operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np
import numpy.typing as npt

TrackKind = Literal["video", "audio", "text"]


@dataclass(frozen=True)
class SampleTable:
    """Per-sample arrays of one track, in decode order; all the same length.

    ``dts`` and ``cts_offset`` are in the track's timescale; presentation time
    is ``dts + cts_offset``. ``offset`` is the absolute byte offset of the
    sample's data in its file.
    """

    dts: npt.NDArray[np.int64]
    cts_offset: npt.NDArray[np.int32]
    duration: npt.NDArray[np.uint32]
    size: npt.NDArray[np.uint32]
    offset: npt.NDArray[np.uint64]
    sync: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.dts.shape[0])


@dataclass(frozen=True)
class Track:
    """One track of a stored MP4 file, with what packagers and manifests need."""

    track_id: int
    kind: TrackKind
    codec: str  # sample entry fourcc: 'avc1', 'avc3', 'hvc1', 'mp4a', ...
    codec_string: str  # RFC 6381, e.g. 'avc1.64001F', 'mp4a.40.2'
    timescale: int
    duration_ticks: int
    samples: SampleTable
    # the whole stsd entry box (e.g. 'avc1' with its avcC), reused in init segments
    sample_entry: bytes
    codec_private: bytes = b""  # avcC/hvcC payload, or the AAC AudioSpecificConfig
    language: str = "und"
    width: int = 0
    height: int = 0
    frame_rate: Fraction = field(default_factory=lambda: Fraction(0))
    sample_rate_hz: int = 0
    channels: int = 0
    bitrate_bps: int = 0  # average over the whole track
    max_bitrate_bps: int = 0

    @property
    def duration_seconds(self) -> float:
        """The track's duration in seconds."""
        return self.duration_ticks / self.timescale


@dataclass(frozen=True)
class Movie:
    """The tracks of one MP4 file plus the facts about the file itself."""

    tracks: tuple[Track, ...]
    movie_timescale: int
    duration_ticks: int  # in movie_timescale
    file_size_bytes: int
    brands: tuple[str, ...] = ()

    def track(self, kind: TrackKind) -> Track | None:
        """The first track of a kind, or None."""
        return next((t for t in self.tracks if t.kind == kind), None)
