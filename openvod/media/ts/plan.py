"""A memoisable plan of one MPEG-TS segment: all of it but the elementary-stream bytes.

Everything in a TS segment except the audio and video bytes is a pure
function of the sample table (sizes, times, sync flags), the codec
configuration, the segment index and the positions of the NAL length
prefixes in the samples (content, but fixed for a given file). A
:class:`TsSegmentPlan` keeps that part compactly, so that a segment asked for
again costs a few array operations and one slice copy per frame
(:func:`apply_ts_plan`) instead of the muxer's hundred-odd small ones:

- the 32-bit header word of every TS packet and the PAT/PMT packets;
- the bytes of the *padded* buffer (one 184-byte row per TS packet, see
  :mod:`openvod.media.ts.packets`) that do not come from the samples
  (adaptation fields, PCR, stuffing, PES headers, access unit delimiters,
  parameter sets, ADTS headers), as runs: the gaps between the copies;
- the copies: for each track, where each contiguous piece of its sample data
  goes in the padded buffer;
- the flat positions of the start codes that replace the NAL length prefixes
  copied with the samples.

A plan holds no full-size buffer: for a 2-s 720p segment it is a few percent
of the segment (:attr:`TsSegmentPlan.size_bytes`). Plans are built by
:func:`openvod.media.ts.muxer.plan_ts_segment` from a first build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media.avc import START_CODE
from openvod.media.ts.layout import PAYLOAD_ROW_SIZE
from openvod.media.ts.packets import FramedPackets, finish_packets

_START_CODE = np.frombuffer(START_CODE, dtype=np.uint8)
_OBJECT_OVERHEAD_BYTES = 512  # the dataclass, its tuples and array headers, roughly

IndexArray = npt.NDArray[np.signedinteger]
ByteArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class TrackCopies:
    """Where the sample data of one track goes: ``sizes[i]`` bytes from
    ``src_offsets[i]`` to flat offset ``dest_offsets[i]`` of the padded buffer."""

    data_size: int  # bytes of the track's sample data the plan was made for
    dest_offsets: IndexArray
    src_offsets: IndexArray
    sizes: IndexArray


@dataclass(frozen=True, eq=False)
class TsSegmentPlan:
    """One TS segment without its elementary-stream bytes (see the module docstring)."""

    leading_packets: bytes  # the PAT and PMT
    header_words: npt.NDArray[np.uint32]  # one per TS packet after them
    patch_starts: IndexArray  # flat offset in the padded buffer of each run of framing bytes
    patch_ends: IndexArray  # end of each run in ``patch_values`` (runs are back to back)
    patch_values: ByteArray
    tracks: tuple[TrackCopies, ...]
    start_code_bytes: IndexArray  # (start codes, 4): flat positions of their bytes

    @property
    def size_bytes(self) -> int:
        """Roughly the memory the plan holds."""
        arrays = [self.header_words, self.patch_starts, self.patch_ends, self.patch_values,
                  self.start_code_bytes]  # fmt: skip
        for track in self.tracks:
            arrays += [track.dest_offsets, track.src_offsets, track.sizes]
        return sum(a.nbytes for a in arrays) + len(self.leading_packets) + _OBJECT_OVERHEAD_BYTES

    @property
    def segment_size(self) -> int:
        """Bytes of the segment the plan makes."""
        return len(self.leading_packets) + self.header_words.size * (PAYLOAD_ROW_SIZE + 4)


def _compact(values: npt.NDArray[np.int64], limit: int) -> IndexArray:
    """``values`` (all in ``0..limit``) as int32 when they fit, to halve the plan."""
    return values.astype(np.int32) if limit < 2**31 else values


def plan_from_framed(
    framed: FramedPackets, leading_packets: bytes, data_sizes: Sequence[int]
) -> TsSegmentPlan:
    """The plan of a framed segment (before or after its copies are made: the framing
    bytes it keeps are the gaps between them). ``data_sizes``: bytes of each track's data."""
    flat = framed.padded.reshape(-1)
    total = flat.size
    dest = np.concatenate([c.dest_offsets for c in framed.copies] + [np.empty(0, np.int64)])
    sizes = np.concatenate([c.sizes for c in framed.copies] + [np.empty(0, np.int64)])
    order = dest.argsort(kind="stable")
    starts = dest[order]
    gap_starts = np.concatenate([[0], starts + sizes[order]])
    gap_ends = np.concatenate([starts, [total]])
    keep = gap_ends > gap_starts
    gap_starts, gap_ends = gap_starts[keep], gap_ends[keep]
    lengths = gap_ends - gap_starts
    value_ends = lengths.cumsum()
    count = int(value_ends[-1]) if value_ends.size else 0
    positions = np.repeat(gap_starts - (value_ends - lengths), lengths)
    positions += np.arange(count)
    tracks = tuple(
        TrackCopies(int(size), _compact(c.dest_offsets, total),
                    _compact(c.src_offsets, int(size)), _compact(c.sizes, int(size)))
        for c, size in zip(framed.copies, data_sizes, strict=True)
    )  # fmt: skip
    return TsSegmentPlan(
        leading_packets=leading_packets,
        header_words=framed.header_words,
        patch_starts=_compact(gap_starts, total),
        patch_ends=_compact(value_ends, total),
        patch_values=flat[positions],
        tracks=tracks,
        start_code_bytes=_compact(framed.start_code_bytes, total),
    )


def copy_payloads(
    padded: ByteArray,
    tracks: Sequence[TrackCopies],
    start_code_bytes: IndexArray,
    data: Sequence[bytes | memoryview],
) -> None:
    """Copy each track's sample data where its plan says (one slice copy per piece),
    then write the start codes over the length prefixes (one array assignment)."""
    if len(data) != len(tracks):
        raise MediaError(f"the plan has {len(tracks)} tracks, {len(data)} given")
    out = padded.reshape(-1).data
    for track, samples in zip(tracks, data, strict=True):
        src = memoryview(samples)
        if src.nbytes != track.data_size:
            raise MediaError("sample data does not match the segment plan")
        for at, start, size in zip(track.dest_offsets.tolist(), track.src_offsets.tolist(),
                                   track.sizes.tolist(), strict=True):  # fmt: skip
            out[at : at + size] = src[start : start + size]
    if start_code_bytes.size:
        padded.reshape(-1)[start_code_bytes] = _START_CODE


def apply_ts_plan(plan: TsSegmentPlan, data: Sequence[bytes | memoryview]) -> ByteArray:
    """The segment of ``plan`` with ``data`` (each track's samples back to back, as read
    for the plan): a flat uint8 array, byte for byte what the muxer makes.

    Raises :class:`~openvod.errors.MediaError` when the data does not fit the plan.
    """
    padded = np.empty(plan.header_words.size * PAYLOAD_ROW_SIZE, dtype=np.uint8)
    out, values = padded.data, plan.patch_values.data
    start = 0
    for at, end in zip(plan.patch_starts.tolist(), plan.patch_ends.tolist(), strict=True):
        out[at : at + end - start] = values[start:end]
        start = end
    copy_payloads(padded, plan.tracks, plan.start_code_bytes, data)
    return finish_packets(padded, plan.header_words, plan.leading_packets)
