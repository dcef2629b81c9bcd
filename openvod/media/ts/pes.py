"""PES packets (ISO/IEC 13818-1 §2.4.3.6) for the elementary streams of a segment.

One video access unit per PES; AAC frames (each with its ADTS header) grouped
several to a PES, as packagers do, to save header overhead. Timestamps are on
the 90 kHz MPEG clock, 33 bits wide.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openvod.media.avc import Chunk

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


@dataclass(frozen=True)
class PesPacket:
    """One PES packet ready to be cut into TS packets: its header and payload as chunks."""

    pid: int
    dts_90k: int  # orders packets across PIDs and gives the PCR
    chunks: Sequence[Chunk]  # the PES header first
    size_bytes: int
    random_access: bool


def ticks_to_90k(ticks: npt.NDArray[np.int64], timescale: int) -> npt.NDArray[np.int64]:
    """Convert times in ``timescale`` to the 90 kHz clock, rounding to nearest.

    A pure function of the absolute time, so segment N+1 continues segment N
    exactly and PTS >= DTS stays true after conversion.
    """
    if timescale == CLOCK_HZ:
        return ticks.astype(np.int64)
    return (ticks.astype(np.int64) * CLOCK_HZ + timescale // 2) // timescale


def encode_timestamp(prefix: int, value: int) -> bytes:
    """The 5-byte PTS/DTS field: 4-bit ``prefix``, 33 bits of ``value`` and marker bits."""
    value &= TIMESTAMP_MASK
    return struct.pack(
        ">BHH",
        (prefix << 4) | ((value >> 29) & 0x0E) | 1,
        ((value >> 14) & 0xFFFE) | 1,
        ((value << 1) & 0xFFFE) | 1,
    )


def pes_header(stream_id: int, payload_size: int, pts_90k: int, dts_90k: int | None) -> bytes:
    """A PES header with PTS (and DTS when given) for ``payload_size`` bytes of payload.

    PES_packet_length is 0 (unbounded, allowed for video only) when the packet
    would be longer than 65535 bytes.
    """
    if dts_90k is None:
        timestamps = encode_timestamp(0x2, pts_90k)
        flags = _PTS_ONLY
    else:
        timestamps = encode_timestamp(0x3, pts_90k) + encode_timestamp(0x1, dts_90k)
        flags = _PTS_AND_DTS
    length = 3 + len(timestamps) + payload_size
    length = length if length <= _MAX_PES_LENGTH else 0
    return (
        struct.pack(">3sBHBBB", b"\x00\x00\x01", stream_id, length, _DATA_ALIGNED, flags,
                    len(timestamps))
        + timestamps
    )  # fmt: skip


def video_pes_packets(
    pid: int,
    stream_id: int,
    access_units: Sequence[Sequence[Chunk]],
    pts_90k: npt.NDArray[np.int64],
    dts_90k: npt.NDArray[np.int64],
    keyframes: npt.NDArray[np.bool_],
) -> list[PesPacket]:
    """One PES per Annex B access unit, with PTS and DTS."""
    packets = []
    for unit, pts, dts, key in zip(
        access_units, pts_90k.tolist(), dts_90k.tolist(), keyframes.tolist(), strict=True
    ):
        size = sum(len(chunk) for chunk in unit)
        header = pes_header(stream_id, size, pts, dts)
        packets.append(PesPacket(pid, dts, [header, *unit], len(header) + size, key))
    return packets


def group_audio_frames(
    pts_90k: npt.NDArray[np.int64],
    durations_90k: npt.NDArray[np.int64],
    *,
    max_duration_90k: int = AUDIO_PES_MAX_DURATION_90K,
    max_frames: int = AUDIO_PES_MAX_FRAMES,
) -> list[int]:
    """Index of the first frame of each group: at most ``max_frames`` frames lasting
    at most ``max_duration_90k`` together (a longer frame stands alone)."""
    starts: list[int] = []
    group_start_pts = 0
    ends = (pts_90k + durations_90k).tolist()
    for index, (pts, end) in enumerate(zip(pts_90k.tolist(), ends, strict=True)):
        if (
            not starts
            or index - starts[-1] >= max_frames
            or end - group_start_pts > max_duration_90k
        ):
            starts.append(index)
            group_start_pts = pts
    return starts


def audio_pes_packets(
    pid: int,
    stream_id: int,
    adts_stream: npt.NDArray[np.uint8],
    frame_sizes: npt.NDArray[np.int64],
    pts_90k: npt.NDArray[np.int64],
    durations_90k: npt.NDArray[np.int64],
) -> list[PesPacket]:
    """PES packets of a few ADTS frames each, carrying the PTS of their first frame.

    ``frame_sizes`` are the sizes of the ADTS frames (header included) lying
    back to back in ``adts_stream``.
    """
    starts = group_audio_frames(pts_90k, durations_90k)
    offsets = np.zeros(frame_sizes.size + 1, dtype=np.int64)
    np.cumsum(frame_sizes, out=offsets[1:])
    byte_bounds = offsets[[*starts, frame_sizes.size]].tolist()
    view = adts_stream.data  # a memoryview: slices below copy nothing
    packets = []
    for group, start in enumerate(starts):
        payload = view[byte_bounds[group] : byte_bounds[group + 1]]
        pts = int(pts_90k[start])
        header = pes_header(stream_id, len(payload), pts, None)
        packets.append(PesPacket(pid, pts, [header, payload], len(header) + len(payload), True))
    return packets
