"""PES packets (ISO/IEC 13818-1 §2.4.3.6) of the elementary streams of a segment, as arrays.

One video access unit per PES; AAC frames (each with its ADTS header) grouped
several to a PES, as packagers do, to save header overhead. Timestamps are on
the 90 kHz MPEG clock, 33 bits wide.

A stream's PES packets are described by a :class:`PesStream`: per-PES arrays
(DTS, headers, payload sizes, random access) and a writer that puts the
elementary-stream bytes of every PES where the packetizer says. Headers are
built for all packets at once with bit arithmetic on arrays; no Python object
or bytes string is made per packet.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media import adts
from openvod.media.avc import AnnexbAccessUnits, EsCopies

CLOCK_HZ = 90_000
TIMESTAMP_MASK = (1 << 33) - 1
STREAM_ID_VIDEO = 0xE0
STREAM_ID_AUDIO = 0xC0

# PCR spacing must stay under 100 ms; audio PES are the PCR carrier without video.
AUDIO_PES_MAX_DURATION_90K = 8100  # 90 ms
AUDIO_PES_MAX_FRAMES = 5

_PTS_ONLY = 0x80
_PTS_AND_DTS = 0xC0
_DATA_ALIGNED = 0x84  # '10' marker, data_alignment_indicator: each PES starts an access unit
_MAX_PES_LENGTH = 0xFFFF
_FIXED_HEADER_SIZE = 9  # start code prefix, stream_id, length, two flag bytes, header length
_TIMESTAMP_SIZE = 5

Int64Array = npt.NDArray[np.int64]
ByteArray = npt.NDArray[np.uint8]


class PayloadWriter(Protocol):
    """Writes the elementary-stream bytes of a stream's PES packets into a buffer."""

    def write(self, dest: ByteArray, offsets: Int64Array) -> None:
        """Write the payload of PES ``i`` at ``dest[offsets[i]:]``."""


class FramedPayloadWriter(PayloadWriter, Protocol):
    """A payload writer that can leave the elementary-stream bytes to its caller.

    :meth:`write_framing` writes only what the writer adds to the source data
    (delimiters, parameter sets, ADTS headers...) and returns where the
    source bytes go, so that the copies can be replayed for other requests of
    the same segment (:mod:`openvod.media.ts.plan`).
    """

    def write_framing(self, dest: ByteArray, offsets: Int64Array) -> EsCopies:
        """Write the framing of PES ``i`` at ``dest[offsets[i]:]``; return the copies left."""


@dataclass(frozen=True)
class PesStream:
    """The PES packets of one elementary stream in a segment: one array row per packet."""

    pid: int
    dts_90k: Int64Array  # orders packets across PIDs and gives the PCR
    headers: ByteArray  # (packets, header size): every PES header of the stream
    payload_sizes: Int64Array  # elementary-stream bytes after each header
    random_access: npt.NDArray[np.bool_]
    payload: PayloadWriter

    def __len__(self) -> int:
        return int(self.dts_90k.size)


def ticks_to_90k(ticks: npt.NDArray[np.integer], timescale: int) -> Int64Array:
    """Convert times in ``timescale`` to the 90 kHz clock, rounding to nearest.

    A pure function of the absolute time, so segment N+1 continues segment N
    exactly and PTS >= DTS stays true after conversion.
    """
    if timescale == CLOCK_HZ:
        return ticks.astype(np.int64)  # a new array in every case
    converted: Int64Array = ticks.astype(np.int64, copy=False) * CLOCK_HZ
    converted += timescale // 2
    converted //= timescale
    return converted


# The 5 bytes of a PTS/DTS field, each read from the value shifted left by one:
# 4-bit prefix, value bits 32..30, marker, 29..15, marker, 14..0, marker.
_TIMESTAMP_SHIFTS = np.array([30, 23, 15, 8, 0])
_TIMESTAMP_MASKS = np.array([0x0E, 0xFF, 0xFE, 0xFF, 0xFE])
_TIMESTAMP_MARKERS = np.array([0x01, 0x00, 0x01, 0x00, 0x01])


def encode_timestamps(prefixes: tuple[int, ...], values_90k: Int64Array) -> ByteArray:
    """The 5-byte PTS/DTS fields of ``values_90k`` (packets, len(prefixes)), flattened per row.

    Field ``j`` of a row carries the 4-bit ``prefixes[j]`` ('0010' PTS alone,
    '0011' PTS then '0001' DTS), 33 bits of the value and marker bits.
    """
    count = values_90k.shape[0]
    doubled = values_90k.reshape(count, len(prefixes), 1) << 1  # bits above 32 are masked
    fields = (doubled >> _TIMESTAMP_SHIFTS) & _TIMESTAMP_MASKS | _timestamp_markers(prefixes)
    return fields.astype(np.uint8).reshape(count, len(prefixes) * _TIMESTAMP_SIZE)


@functools.cache
def _timestamp_markers(prefixes: tuple[int, ...]) -> Int64Array:
    """The constant bits of timestamp fields with these prefixes: (len(prefixes), 5)."""
    markers = np.tile(_TIMESTAMP_MARKERS, (len(prefixes), 1))
    markers[:, 0] |= np.array(prefixes) << 4
    return markers


@functools.cache
def _fixed_header(stream_id: int, flags: int, fields_size: int) -> ByteArray:
    """The 9 bytes a stream's PES headers start with (PES_packet_length left 0)."""
    fields = (0, 0, 1, stream_id, 0, 0, _DATA_ALIGNED, flags, fields_size)
    return np.array(fields, dtype=np.uint8)


def pes_headers(stream_id: int, payload_sizes: Int64Array, timestamps_90k: Int64Array) -> ByteArray:
    """PES headers: a (packets, 14 or 19) uint8 array.

    ``timestamps_90k`` is the PTS of each packet, or a (packets, 2) array of
    PTS and DTS. PES_packet_length is 0 (unbounded, allowed for video only)
    when a packet would be longer than 65535 bytes.
    """
    with_dts = timestamps_90k.ndim == 2
    fields_size = _TIMESTAMP_SIZE * (2 if with_dts else 1)
    size = _FIXED_HEADER_SIZE + fields_size
    flags = _PTS_AND_DTS if with_dts else _PTS_ONLY
    headers = np.empty((payload_sizes.size, size), dtype=np.uint8)
    headers[:, :_FIXED_HEADER_SIZE] = _fixed_header(stream_id, flags, fields_size)
    lengths = payload_sizes + (size - 6)  # the bytes after the PES_packet_length field
    lengths[lengths > _MAX_PES_LENGTH] = 0
    headers[:, 4] = lengths >> 8
    headers[:, 5] = lengths  # the low byte: assigning to uint8 keeps it
    headers[:, _FIXED_HEADER_SIZE:] = encode_timestamps((0x3, 0x1) if with_dts else (0x2,),
                                                        timestamps_90k)  # fmt: skip
    return headers


def video_pes_stream(
    pid: int,
    stream_id: int,
    units: AnnexbAccessUnits,
    timestamps_90k: Int64Array,
    keyframes: npt.NDArray[np.bool_],
) -> PesStream:
    """One PES per Annex B access unit, with PTS and DTS (``timestamps_90k``, one row each)."""
    headers = pes_headers(stream_id, units.unit_sizes, timestamps_90k)
    dts = timestamps_90k[:, 1]
    return PesStream(pid, dts, headers, units.unit_sizes, keyframes.astype(np.bool_), units)


def group_audio_frames(
    pts_90k: Int64Array,
    durations_90k: Int64Array,
    *,
    max_duration_90k: int = AUDIO_PES_MAX_DURATION_90K,
    max_frames: int = AUDIO_PES_MAX_FRAMES,
) -> Int64Array:
    """Index of the first frame of each group: at most ``max_frames`` frames lasting
    at most ``max_duration_90k`` together (a longer frame stands alone)."""
    starts, _ = _audio_groups(pts_90k, durations_90k, max_duration_90k, max_frames)
    return np.array(starts, dtype=np.int64)


def _audio_groups(
    pts_90k: Int64Array, durations_90k: Int64Array, max_duration_90k: int, max_frames: int
) -> tuple[list[int], list[int]]:
    """The first frame and the frame count of each group of :func:`group_audio_frames`.

    Groups are formed greedily from the first frame. How far a group starting
    at frame ``i`` would reach is computed for every ``i`` at once; only the hop
    from one group start to the next is a Python loop.
    """
    count = pts_90k.size
    ends = pts_90k + durations_90k
    if count < 2 or not (ends[1:] < ends[:-1]).any():
        # Frames end in order: those ending in time for a group started at i are i .. reach-1.
        reach = ends.searchsorted(pts_90k + max_duration_90k, side="right").tolist()
    else:
        fits = np.ones(count, dtype=np.bool_)  # frames i+1 .. i+k all fit a group started at i
        group_sizes = np.ones(count, dtype=np.int64)
        for k in range(1, min(max_frames, count)):
            joins = np.zeros(count, dtype=np.bool_)  # frame i+k fits a group started at i
            joins[: count - k] = ends[k:] - pts_90k[: count - k] <= max_duration_90k
            fits &= joins
            group_sizes += fits
        reach = (group_sizes + np.arange(count)).tolist()
    starts, sizes = [], []
    index = 0
    while index < count:
        size = min(max(reach[index] - index, 1), max_frames)
        starts.append(index)
        sizes.append(size)
        index += size
    return starts, sizes


@dataclass(frozen=True)
class _AdtsGroups:
    """The ADTS frames of an audio stream, a few (one PES payload) after each offset."""

    config: adts.AacConfig
    data: bytes | memoryview  # the raw frames back to back
    payload_sizes: Int64Array  # of each raw frame
    group_sizes: Int64Array  # frames in each group
    frame_offsets: Int64Array  # of each ADTS frame in its group

    def write(self, dest: ByteArray, offsets: Int64Array) -> None:
        """Write group ``i`` (the payload of PES ``i``) at ``dest[offsets[i]:]``."""
        frame_at = offsets.repeat(self.group_sizes)
        frame_at += self.frame_offsets
        adts.write_adts_frames(dest, frame_at, self.config, self.data, self.payload_sizes)

    def write_framing(self, dest: ByteArray, offsets: Int64Array) -> EsCopies:
        """Write the ADTS headers of group ``i`` at ``dest[offsets[i]:]``; return the
        frame copies left (one per AAC frame)."""
        frame_at = offsets.repeat(self.group_sizes)
        frame_at += self.frame_offsets
        adts.write_adts_headers(dest, frame_at, self.config, self.payload_sizes)
        frame_at += adts.ADTS_HEADER_SIZE
        src_ends = self.payload_sizes.cumsum()
        src_starts = src_ends - self.payload_sizes
        return EsCopies(frame_at, src_starts, self.payload_sizes, np.empty(0, dtype=np.int64))


def audio_pes_stream(
    pid: int,
    stream_id: int,
    config: adts.AacConfig,
    data: bytes | memoryview,
    payload_sizes: npt.NDArray[np.integer],
    pts_90k: Int64Array,
    durations_90k: Int64Array,
) -> PesStream:
    """PES packets of a few ADTS frames each, carrying the PTS of their first frame.

    ``data`` holds the raw AAC frames back to back, ``payload_sizes`` their sizes.
    """
    sizes = payload_sizes.astype(np.int64)
    frame_sizes = sizes + adts.ADTS_HEADER_SIZE
    frame_ends = frame_sizes.cumsum()
    if int(sizes.sum()) != len(data):
        raise MediaError("audio sample sizes do not add up to the data given")
    first_frames, group_sizes = _audio_groups(
        pts_90k, durations_90k, AUDIO_PES_MAX_DURATION_90K, AUDIO_PES_MAX_FRAMES
    )
    firsts = np.array(first_frames, dtype=np.int64)
    counts = np.array(group_sizes, dtype=np.int64)
    frame_starts = frame_ends - frame_sizes
    group_starts = frame_starts[firsts]
    pes_payload_sizes = frame_ends[firsts + counts - 1] - group_starts
    frame_offsets = frame_starts - group_starts.repeat(counts)
    pts = pts_90k[firsts]
    headers = pes_headers(stream_id, pes_payload_sizes, pts)
    payload = _AdtsGroups(config, data, sizes, counts, frame_offsets)
    random_access = np.empty(pts.size, dtype=np.bool_)
    random_access.fill(True)  # every AAC frame is a random access point
    return PesStream(pid, pts, headers, pes_payload_sizes, random_access, payload)
