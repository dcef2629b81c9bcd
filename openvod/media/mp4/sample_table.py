"""Expand an 'stbl' (run-length tables) into per-sample numpy arrays, without per-sample loops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media.mp4.boxes import Box, BoxHeader, Buffer, parse_box
from openvod.media.mp4.table_boxes import (
    ChunkLargeOffsetBox,
    ChunkOffsetBox,
    CompactSampleSizeBox,
    CompositionOffsetBox,
    SampleSizeBox,
    SampleToChunkBox,
    SyncSampleBox,
    TimeToSampleBox,
)
from openvod.media.track import SampleTable

I64Array = npt.NDArray[np.int64]
BoxT = TypeVar("BoxT", bound=Box)
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class SampleTableBoxes:
    """The decoded sample table boxes of one track."""

    sizes: npt.NDArray[np.uint32]
    chunk_offsets: npt.NDArray[np.uint64]
    stsc: SampleToChunkBox
    stts: TimeToSampleBox | None = None
    ctts: CompositionOffsetBox | None = None
    stss: SyncSampleBox | None = None

    @classmethod
    def from_headers(
        cls, data: Buffer, stbl: dict[bytes, list[BoxHeader]], file_size: int
    ) -> SampleTableBoxes:
        """Decode the relevant children of an 'stbl' (given by fourcc); others are ignored.

        ``file_size`` bounds a constant-size 'stsz' (its samples must fit in the file).
        """

        def get(fourcc: bytes, box_type: type[BoxT]) -> BoxT | None:
            headers = stbl.get(fourcc)
            if not headers:
                return None
            box = parse_box(data, headers[0])
            assert isinstance(box, box_type)
            return box

        stsz = get(b"stsz", SampleSizeBox)
        stz2 = get(b"stz2", CompactSampleSizeBox)
        if stsz is not None:
            if stsz.sample_size * stsz.sample_count > file_size:
                raise MediaError("'stsz' describes more sample data than the file holds")
            sizes = stsz.sizes()
        elif stz2 is not None:
            sizes = stz2.entry_sizes
        else:
            raise MediaError("'stbl' has neither 'stsz' nor 'stz2'")
        offsets_box = get(b"stco", ChunkOffsetBox) or get(b"co64", ChunkLargeOffsetBox)
        stsc = get(b"stsc", SampleToChunkBox)
        if len(sizes) and (offsets_box is None or stsc is None):
            raise MediaError("'stbl' lacks 'stsc' or 'stco'/'co64'")
        return cls(
            sizes=sizes,
            chunk_offsets=(
                offsets_box.chunk_offsets if offsets_box else np.zeros(0, dtype=np.uint64)
            ),
            stsc=stsc or SampleToChunkBox(),
            stts=get(b"stts", TimeToSampleBox),
            ctts=get(b"ctts", CompositionOffsetBox),
            stss=get(b"stss", SyncSampleBox),
        )


def expand_runs(
    counts: npt.NDArray[np.uint32], values: npt.NDArray[np.generic], sample_count: int, name: str
) -> npt.NDArray[np.generic]:
    """``np.repeat(values, counts)`` cut to ``sample_count``; MediaError if the runs are short."""
    counts64 = counts.astype(np.int64)
    before = np.cumsum(counts64) - counts64
    total = int(before[-1] + counts64[-1]) if len(counts64) else 0
    if total < sample_count:
        raise MediaError(f"'{name}' covers {total} samples but the track has {sample_count}")
    clipped = np.minimum(counts64, np.maximum(sample_count - before, 0))  # tolerate overlong runs
    return np.repeat(values, clipped)


def sample_offsets(
    stsc: SampleToChunkBox,
    chunk_offsets: npt.NDArray[np.uint64],
    sizes: npt.NDArray[np.uint32],
) -> I64Array:
    """Each sample's file offset from the chunk runs, chunk offsets and sample sizes."""
    sample_count, chunk_count = len(sizes), len(chunk_offsets)
    first = stsc.first_chunks.astype(np.int64)
    if len(first) == 0 or first[0] != 1 or np.any(np.diff(first) <= 0) or first[-1] > chunk_count:
        raise MediaError("invalid 'stsc': first chunks must start at 1 and increase")
    runs = np.diff(np.append(first, chunk_count + 1))
    per_chunk = expand_runs(
        runs.astype(np.uint32), stsc.samples_per_chunk.astype(np.int64), chunk_count, "stsc"
    ).astype(np.int64)
    chunk_first_sample = np.cumsum(per_chunk) - per_chunk
    held = int(chunk_first_sample[-1] + per_chunk[-1])
    if held < sample_count:
        raise MediaError(f"chunks hold {held} samples but 'stsz' lists {sample_count}")
    per_chunk = np.minimum(per_chunk, np.maximum(sample_count - chunk_first_sample, 0))
    size_before = np.cumsum(sizes, dtype=np.int64) - sizes
    used = per_chunk > 0
    base = chunk_offsets[used].astype(np.int64) - size_before[chunk_first_sample[used]]
    return size_before + np.repeat(base, per_chunk[used])


def _sync_flags(stss: SyncSampleBox | None, sample_count: int) -> npt.NDArray[np.bool_]:
    if stss is None:  # no 'stss': every sample is a sync sample
        return np.ones(sample_count, dtype=np.bool_)
    numbers = stss.sample_numbers.astype(np.int64)
    if len(numbers) and (numbers.min() < 1 or numbers.max() > sample_count):
        raise MediaError("'stss' names a sample that does not exist")
    sync = np.zeros(sample_count, dtype=np.bool_)
    sync[numbers - 1] = True
    return sync


def build_sample_table(tables: SampleTableBoxes, shift_ticks: int, file_size: int) -> SampleTable:
    """Per-sample arrays for a track; ``shift_ticks`` (the edit list) is added to cts offsets."""
    sizes = tables.sizes.astype(np.uint32)
    count = len(sizes)
    if tables.stts is not None:
        stts = tables.stts
        durations = expand_runs(stts.sample_counts, stts.sample_deltas, count, "stts")
    elif count:
        raise MediaError("'stbl' has no 'stts'")
    else:
        durations = np.zeros(0, dtype=np.uint32)
    dts = np.zeros(count, dtype=np.int64)
    if count > 1:
        np.cumsum(durations[:-1], dtype=np.int64, out=dts[1:])
    cts = np.full(count, shift_ticks, dtype=np.int64)
    if tables.ctts is not None and len(tables.ctts.sample_counts):
        ctts = tables.ctts
        cts += expand_runs(ctts.sample_counts, ctts.sample_offsets, count, "ctts").astype(np.int64)
    if count and (cts.min() < _INT32_MIN or cts.max() > _INT32_MAX):
        raise MediaError("composition offsets out of range")
    offsets = (
        sample_offsets(tables.stsc, tables.chunk_offsets, sizes)
        if count
        else np.zeros(0, dtype=np.int64)
    )
    if count and (offsets.min() < 0 or int((offsets + sizes).max()) > file_size):
        raise MediaError(f"sample data lies beyond the end of the file ({file_size} bytes)")
    return SampleTable(
        dts=dts,
        cts_offset=cts.astype(np.int32),
        duration=durations.astype(np.uint32),
        size=sizes,
        offset=offsets.astype(np.uint64),
        sync=_sync_flags(tables.stss, count),
    )


def track_bitrates(samples: SampleTable, timescale: int, duration_ticks: int) -> tuple[int, int]:
    """(average, peak) bits per second; the peak is over a sliding one-second window."""
    if not len(samples) or duration_ticks <= 0:
        return 0, 0
    sizes = samples.size.astype(np.int64)
    total = int(sizes.sum())
    average = round(total * 8 * timescale / duration_ticks)
    cumulative = np.concatenate(([0], np.cumsum(sizes)))
    window_ends = np.searchsorted(samples.dts, samples.dts + timescale, side="left")
    peak = int((cumulative[window_ends] - cumulative[:-1]).max()) * 8
    return average, max(average, peak)
