"""Write fragmented MP4 (CMAF) init segments and plan media fragments.

A fragment is planned, not built: :func:`plan_fragment` returns the
``moof`` + ``mdat`` header bytes, the total size and the few coalesced byte
ranges of the source file that make up the ``mdat`` payload, so the HTTP
layer can send Content-Length first and stream the sample data with range
reads. No sample byte passes through this module unless the caller uses
:func:`build_fragment`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openvod.media.mp4.boxes import (
    Box,
    DataInformationBox,
    FileTypeBox,
    MediaBox,
    MediaInformationBox,
    MovieBox,
    MovieExtendsBox,
    MovieFragmentBox,
    RawBox,
    SampleTableBox,
    TrackBox,
    TrackFragmentBox,
    mdat_header,
)
from openvod.media.mp4.fragment_boxes import (
    NON_SYNC_SAMPLE_FLAGS,
    SYNC_SAMPLE_FLAGS,
    MovieFragmentHeaderBox,
    TrackExtendsBox,
    TrackFragmentDecodeTimeBox,
    TrackFragmentHeaderBox,
    TrackRunBox,
)
from openvod.media.mp4.movie_boxes import (
    DataReferenceBox,
    HandlerBox,
    MediaHeaderBox,
    MovieHeaderBox,
    NullMediaHeaderBox,
    SampleDescriptionBox,
    SoundMediaHeaderBox,
    SubtitleMediaHeaderBox,
    TrackHeaderBox,
    VideoMediaHeaderBox,
)
from openvod.media.mp4.table_boxes import (
    ChunkOffsetBox,
    SampleSizeBox,
    SampleToChunkBox,
    TimeToSampleBox,
)
from openvod.media.track import Track

SampleEntryHook = Callable[[Track, bytes], bytes]
"""Rewrites a track's sample entry box for the init segment (e.g. to 'encv' + 'sinf')."""

DEFAULT_BRANDS = ("iso6", "cmfc")
HANDLER_NAME = "openvod"
INIT_MOVIE_TIMESCALE = 1000


@dataclass(frozen=True)
class FragmentPlan:
    """A media fragment before its sample bytes: header bytes plus where the data lives.

    The fragment is ``prefix`` followed by the bytes of each ``reads`` range
    (absolute ``(file_offset, size)`` in the source file), in order.
    """

    prefix: bytes
    reads: list[tuple[int, int]]
    size_bytes: int

    @property
    def data_size_bytes(self) -> int:
        """Bytes of sample data (the mdat payload)."""
        return self.size_bytes - len(self.prefix)


def build_init_segment(
    tracks: Sequence[Track],
    *,
    brands: Sequence[str] = DEFAULT_BRANDS,
    rewrite_sample_entry: SampleEntryHook | None = None,
    extra_moov_boxes: Sequence[Box] = (),
) -> bytes:
    """An ftyp + moov init segment announcing fragments of ``tracks``.

    Each track keeps its original sample entry; ``rewrite_sample_entry`` and
    ``extra_moov_boxes`` (e.g. 'pssh') are the hooks for encryption.
    """
    if not tracks:
        raise ValueError("an init segment needs at least one track")
    ftyp = FileTypeBox(brands[0], 0, tuple(brands))
    mvhd = MovieHeaderBox(
        timescale=INIT_MOVIE_TIMESCALE,
        duration=0,
        next_track_id=max(t.track_id for t in tracks) + 1,
    )
    traks: list[Box] = []
    for track in tracks:
        entry = track.sample_entry
        if rewrite_sample_entry is not None:
            entry = rewrite_sample_entry(track, entry)
        traks.append(_track_box(track, entry))
    mvex = MovieExtendsBox([TrackExtendsBox(track_id=t.track_id) for t in tracks])
    moov = MovieBox([mvhd, *traks, mvex, *extra_moov_boxes])
    out = bytearray()
    ftyp.write(out)
    moov.write(out)
    return bytes(out)


def _media_header(track: Track) -> tuple[str, Box]:
    """The handler type and media header box for a track's kind."""
    if track.kind == "video":
        return "vide", VideoMediaHeaderBox()
    if track.kind == "audio":
        return "soun", SoundMediaHeaderBox()
    if track.codec == "stpp":
        return "subt", SubtitleMediaHeaderBox()
    return "text", NullMediaHeaderBox()


def _track_box(track: Track, sample_entry: bytes) -> TrackBox:
    """A 'trak' with the sample entry and empty sample tables (samples come in fragments)."""
    handler, media_header = _media_header(track)
    tkhd = TrackHeaderBox(
        track_id=track.track_id,
        width=track.width << 16,
        height=track.height << 16,
        volume=0x100 if track.kind == "audio" else 0,
    )
    stbl = SampleTableBox(
        [
            SampleDescriptionBox([RawBox.from_bytes(sample_entry)]),
            TimeToSampleBox(),
            SampleToChunkBox(),
            SampleSizeBox(),
            ChunkOffsetBox(),
        ]
    )
    minf = MediaInformationBox([media_header, DataInformationBox([DataReferenceBox()]), stbl])
    mdhd = MediaHeaderBox(timescale=track.timescale, duration=0, language=track.language)
    mdia = MediaBox([mdhd, HandlerBox(handler, HANDLER_NAME), minf])
    return TrackBox([tkhd, mdia])


def plan_fragment(
    track: Track,
    first_sample: int,
    end_sample: int,
    sequence_number: int,
    *,
    base_media_decode_time: int | None = None,
    extra_traf_boxes: Sequence[Box] = (),
) -> FragmentPlan:
    """Plan the fragment (moof + mdat) of samples ``[first_sample, end_sample)``.

    ``base_media_decode_time`` defaults to the first sample's decode time.
    ``extra_traf_boxes`` go after the 'trun' (e.g. a Smooth 'tfxd' uuid box,
    or 'senc'/'saiz'/'saio' for encryption).
    """
    samples = track.samples
    if not 0 <= first_sample < end_sample <= len(samples):
        raise ValueError(f"bad sample range [{first_sample}, {end_sample}) of {len(samples)}")
    window = slice(first_sample, end_sample)
    sizes = samples.size[window]
    tfhd, trun = _describe_run(
        track.track_id,
        samples.duration[window],
        sizes,
        samples.sync[window],
        samples.cts_offset[window],
    )
    decode_time = (
        int(samples.dts[first_sample])
        if base_media_decode_time is None
        else (base_media_decode_time)
    )
    if decode_time < 0:
        raise ValueError("base media decode time must not be negative")
    traf = TrackFragmentBox(
        [tfhd, TrackFragmentDecodeTimeBox(decode_time), trun, *extra_traf_boxes]
    )
    moof = MovieFragmentBox([MovieFragmentHeaderBox(sequence_number), traf])
    data_size = int(sizes.sum(dtype=np.int64))
    mdat = mdat_header(data_size)
    trun.data_offset = moof.size() + len(mdat)  # default-base-is-moof: relative to moof
    prefix = moof.to_bytes() + mdat
    reads = coalesce_reads(samples.offset[window], sizes)
    return FragmentPlan(prefix, reads, len(prefix) + data_size)


def _constant(column: npt.NDArray[np.generic]) -> int | None:
    """The single value of a column, or None when it varies."""
    first = column[0]
    return int(first) if bool(np.all(column == first)) else None


def _describe_run(
    track_id: int,
    durations: npt.NDArray[np.uint32],
    sizes: npt.NDArray[np.uint32],
    sync: npt.NDArray[np.bool_],
    cts_offsets: npt.NDArray[np.int32],
) -> tuple[TrackFragmentHeaderBox, TrackRunBox]:
    """tfhd + trun for the samples; constant columns become tfhd defaults (as packagers do)."""
    tfhd = TrackFragmentHeaderBox(track_id)
    trun = TrackRunBox(len(sizes), data_offset=0)
    tfhd.default_sample_duration = _constant(durations)
    if tfhd.default_sample_duration is None:
        trun.durations = durations
    tfhd.default_sample_size = _constant(sizes)
    if tfhd.default_sample_size is None:
        trun.sizes = sizes
    flags = np.where(sync, SYNC_SAMPLE_FLAGS, NON_SYNC_SAMPLE_FLAGS).astype(np.uint32)
    tfhd.default_sample_flags = _constant(flags)
    if tfhd.default_sample_flags is None:
        rest = _constant(flags[1:])
        if rest is not None:  # the usual video case: one sync sample, then the GOP
            trun.first_sample_flags, tfhd.default_sample_flags = int(flags[0]), rest
        else:
            trun.sample_flags = flags
    if bool(np.any(cts_offsets)):
        trun.composition_offsets = cts_offsets
    return tfhd, trun


def coalesce_reads(
    offsets: npt.NDArray[np.uint64], sizes: npt.NDArray[np.uint32]
) -> list[tuple[int, int]]:
    """Merge the byte ranges of consecutive samples that are adjacent in the file."""
    starts = offsets.astype(np.int64)
    ends = starts + sizes
    breaks = np.flatnonzero(starts[1:] != ends[:-1]) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks, [len(starts)])) - 1
    return list(zip(starts[first].tolist(), (ends[last] - starts[first]).tolist(), strict=True))


def build_fragment(plan: FragmentPlan, data: bytes) -> bytes:
    """The whole fragment, given the concatenated bytes of ``plan.reads``."""
    if len(data) != plan.data_size_bytes:
        raise ValueError(f"expected {plan.data_size_bytes} bytes of sample data, got {len(data)}")
    return plan.prefix + data
