"""PES packets -> 188-byte TS packets, with a few dozen array operations per segment.

Each stream's PES packets are laid out over TS packets on their own
(:func:`openvod.media.ts.layout.plan_stream`), then interleaved in DTS order.
One "padded payload" buffer of 184-byte rows is filled: adaptation fields
(flags, PCR, stuffing) and PES headers by array assignments, elementary-stream
bytes by the streams' writers (one slice copy per video frame or audio frame).
The TS packets are that buffer copied under their 4-byte headers in one
strided copy; the headers (PID, payload_unit_start_indicator,
adaptation_field_control, continuity counter) are computed as one array of
32-bit words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from openvod.media.avc import words_at_every_byte
from openvod.media.ts.layout import CC_MODULUS, PAYLOAD_ROW_SIZE, StreamPackets, plan_stream
from openvod.media.ts.pes import TIMESTAMP_MASK, PesStream
from openvod.media.ts.psi import SYNC_BYTE, TS_PACKET_SIZE

PCR_LEAD_90K = 9_000  # 100 ms: the PCR of a PES is its DTS minus this

_HEADER_SIZE = TS_PACKET_SIZE - PAYLOAD_ROW_SIZE
_PCR_AF_SIZE = 8  # adaptation_field_length, flags, 6 bytes of PCR
_FLAGS_AF_SIZE = 2  # adaptation_field_length, flags
_FLAG_PCR = 0x10
_FLAG_RANDOM_ACCESS = 0x40
_UNIT_START = 0x40 << 16  # payload_unit_start_indicator, in a header read as a big-endian word
_HAS_AF = 0x20  # adaptation_field_control '11' with _HAS_PAYLOAD
_HAS_PAYLOAD = 0x10
_COLUMNS = np.arange(PAYLOAD_ROW_SIZE)
# Rows of a 183-byte adaptation field (length 182, no flags, stuffing) and one payload byte.
_ONE_BYTE_ROWS = np.full((CC_MODULUS, PAYLOAD_ROW_SIZE), 0xFF, dtype=np.uint8)
_ONE_BYTE_ROWS[:, :2] = (PAYLOAD_ROW_SIZE - 2, 0)
# Continuity counters 0..15 over and over, for the packets of a single stream.
_COUNTER_CYCLE = np.arange(1 << 16, dtype=np.uint32) & (CC_MODULUS - 1)

Int64Array = npt.NDArray[np.int64]
ByteArray = npt.NDArray[np.uint8]


def _write_adaptation_fields(
    padded: ByteArray, rows: Int64Array, sizes: Int64Array, flags: Int64Array | int,
    pcr_90k: Int64Array | None = None,
) -> None:  # fmt: skip
    """Adaptation fields of ``sizes`` bytes (> 0) opening ``rows``: length, flags, the PCR
    when given, stuffing.

    The flags byte is written even where the field is a single length byte:
    what follows the field (header or payload) is written later and covers it.
    """
    padded[rows] = 0xFF  # stuffing; headers and payload overwrite the rest
    flat = padded.reshape(-1)
    starts = rows * PAYLOAD_ROW_SIZE
    flat[starts] = sizes - 1
    if pcr_90k is None:
        flat[starts + 1] = flags
    else:  # flags, then 33 bits of base, 6 reserved bits set, a 9-bit extension of 0
        fields = (pcr_90k & TIMESTAMP_MASK) << 23 | 0x3F << 17 | 0xFF  # stuffing after
        fields |= flags << 56
        words_at_every_byte(flat, 8)[starts + 1] = fields


def _spread_last_row(padded: ByteArray, row: int, af_size: int, extra: int) -> None:
    """Spread the payload of ``row`` (after its ``af_size``-byte adaptation field) over it
    and the ``extra`` rows after it, each of which keeps one byte behind 183 of stuffing."""
    last, block = padded[row], padded[row + 1 : row + 1 + extra]
    block[:] = _ONE_BYTE_ROWS[:extra]
    block[:, -1] = last[PAYLOAD_ROW_SIZE - extra :]
    last[af_size + extra :] = last[af_size : PAYLOAD_ROW_SIZE - extra]  # numpy handles overlap
    last[: af_size + extra] = _ONE_BYTE_ROWS[0, : af_size + extra]
    last[0] = af_size + extra - 1


def _write_stream(
    padded: ByteArray, stream: PesStream, plan: StreamPackets, first_rows: Int64Array,
    has_pcr: bool,
) -> list[Int64Array]:  # fmt: skip
    """Write a stream's PES packets at their rows: adaptation fields, PCR, headers, payload.

    Returns the rows that open with an adaptation field.
    """
    first_af, second_af = plan.first_af_sizes, plan.second_af_sizes
    flags = stream.random_access * _FLAG_RANDOM_ACCESS
    if has_pcr:  # every PES has an adaptation field
        pcr = stream.dts_90k - PCR_LEAD_90K
        af_rows = [first_rows]
        _write_adaptation_fields(padded, first_rows, first_af, flags | _FLAG_PCR, pcr)
    else:
        with_af = first_af.nonzero()[0]
        af_rows = [first_rows[with_af]]
        _write_adaptation_fields(padded, af_rows[0], first_af[with_af], flags[with_af])
    second = second_af.nonzero()[0]
    if second.size:
        af_rows.append(first_rows[second] + 1)
        _write_adaptation_fields(padded, af_rows[-1], second_af[second], 0)
    flat = padded.reshape(-1)
    header_offsets = first_rows * PAYLOAD_ROW_SIZE
    header_offsets += first_af
    flat[header_offsets[:, None] + _COLUMNS[: plan.header_size]] = stream.headers
    payload_offsets = header_offsets + second_af
    payload_offsets += plan.header_size
    stream.payload.write(flat, payload_offsets)
    if plan.padding is not None:
        last = int(first_rows[plan.padding.pes_index]) + plan.padding.last_row
        _spread_last_row(padded, last, plan.padding.last_af_size, plan.padding.extra_rows)
        af_rows.append(np.arange(last, last + plan.padding.extra_rows + 1))
    return af_rows


def _first_rows(
    streams: Sequence[PesStream], plans: Sequence[StreamPackets]
) -> tuple[Int64Array, Int64Array | None]:
    """Each PES's first row (streams concatenated), and the mux order (None for one stream).

    PES packets are interleaved by DTS, then PID; a stream's keep their order.
    """
    if len(plans) == 1:
        return plans[0].rows_before, None
    row_counts = np.concatenate([plan.row_counts for plan in plans])
    dts = np.concatenate([s.dts_90k for s in streams])
    counts = np.array([len(s) for s in streams])
    pids = np.array([s.pid for s in streams]).repeat(counts)
    order = np.lexsort((pids, dts))
    first_rows = np.empty_like(order)
    mux_counts = row_counts[order]
    first_rows[order] = mux_counts.cumsum() - mux_counts
    return first_rows, order


def _header_words(
    streams: Sequence[PesStream], plans: Sequence[StreamPackets], first_rows: Int64Array,
    order: Int64Array | None, af_rows: Int64Array, row_total: int,
) -> npt.NDArray[np.integer]:  # fmt: skip
    """The 4-byte headers of all TS packets, as 32-bit words.

    Each PID's continuity counter counts its packets from 0 in every segment.
    """
    bases = [(SYNC_BYTE << 24) | (s.pid << 8) | _HAS_PAYLOAD for s in streams]
    if order is None and row_total <= _COUNTER_CYCLE.size:
        words = _COUNTER_CYCLE[:row_total] | bases[0]
    elif order is None:
        words = np.arange(row_total, dtype=np.uint32) & (CC_MODULUS - 1) | bases[0]
    else:  # rows of a PES: from its first row, counting its PID's packets before it
        rows_before = np.concatenate([plan.rows_before for plan in plans])
        counts = np.concatenate([plan.row_counts for plan in plans])[order]
        words = np.arange(row_total, dtype=np.uint32)
        words -= (first_rows - rows_before)[order].astype(np.uint32).repeat(counts)
        words &= CC_MODULUS - 1
        pes_bases = np.array(bases, dtype=np.uint32).repeat([len(s) for s in streams])
        words |= pes_bases[order].repeat(counts)
    words[first_rows] |= _UNIT_START
    words[af_rows] |= _HAS_AF
    return words


def packetize(
    streams: Sequence[PesStream], *, pcr_pid: int, leading_packets: bytes = b""
) -> ByteArray:
    """The TS packets of the streams' PES packets, interleaved by DTS (then PID).

    Returns a flat uint8 array: ``leading_packets`` (the PAT and PMT, whole
    packets) followed by the PES packets. The first TS packet of every PES on
    ``pcr_pid`` carries a PCR ``PCR_LEAD_90K`` before the PES's DTS.
    """
    plans = [
        plan_stream(s.headers.shape[1], s.payload_sizes,
                    _PCR_AF_SIZE if s.pid == pcr_pid else s.random_access * _FLAGS_AF_SIZE)
        for s in streams
    ]  # fmt: skip
    first_rows, order = _first_rows(streams, plans)
    row_total = sum(plan.row_total for plan in plans)
    padded = np.empty((row_total, PAYLOAD_ROW_SIZE), dtype=np.uint8)
    af_rows: list[Int64Array] = []
    start = 0
    for stream, plan in zip(streams, plans, strict=True):
        rows = first_rows[start : start + len(stream)]
        start += len(stream)
        af_rows += _write_stream(padded, stream, plan, rows, stream.pid == pcr_pid)
    lead = len(leading_packets)
    out = np.empty(lead + row_total * TS_PACKET_SIZE, dtype=np.uint8)
    out[:lead] = np.frombuffer(leading_packets, dtype=np.uint8)
    packets = out[lead:].reshape(-1, TS_PACKET_SIZE)
    packets[:, _HEADER_SIZE:] = padded
    # The headers as one big-endian word per packet (lead is whole packets: aligned).
    words = _header_words(streams, plans, first_rows, order, np.concatenate(af_rows), row_total)
    packets.view(">u4")[:, 0] = words
    return out
