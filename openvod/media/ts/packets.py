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

:func:`frame_packets` does all of that but the elementary-stream copies, and
returns them as a list of pieces (where each goes, after the continuity
spreading), for :mod:`openvod.media.ts.plan` to replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from openvod.media.avc import START_CODE, EsCopies, words_at_every_byte
from openvod.media.ts.layout import CC_MODULUS, PAYLOAD_ROW_SIZE, StreamPackets, plan_stream
from openvod.media.ts.pes import TIMESTAMP_MASK, FramedPayloadWriter, PesStream
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

_START_CODE_OFFSETS = np.arange(len(START_CODE))
_NO_OFFSETS = np.empty(0, dtype=np.int64)

Int64Array = npt.NDArray[np.int64]
ByteArray = npt.NDArray[np.uint8]
WordArray = npt.NDArray[np.uint32]


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


def _moved(positions: Int64Array, row: int, af_size: int, extra: int) -> Int64Array:
    """Where :func:`_spread_last_row` moves the bytes at flat ``positions`` of the padded
    buffer (positions outside the spread row's payload stay)."""
    base = row * PAYLOAD_ROW_SIZE
    column = positions - base
    split = PAYLOAD_ROW_SIZE - extra  # bytes from here on go to the tail rows
    shifted = np.where((column >= af_size) & (column < split), positions + extra, positions)
    tail = (column >= split) & (column < PAYLOAD_ROW_SIZE)
    to_rows = row + 1 + column - split
    return np.where(tail, to_rows * PAYLOAD_ROW_SIZE + PAYLOAD_ROW_SIZE - 1, shifted)


def _spread_copies(copies: EsCopies, row: int, af_size: int, extra: int) -> EsCopies:
    """The copies of a stream (flat offsets, in stream order) after :func:`_spread_last_row`:
    pieces that reach into the spread row are split where its bytes part ways, start codes
    (flat byte positions) moved."""
    base = row * PAYLOAD_ROW_SIZE
    end = base + PAYLOAD_ROW_SIZE
    moved_from, split = base + af_size, end - extra
    dest, src, sizes, start_codes = copies
    first, stop = start_codes.searchsorted((moved_from, end)).tolist()
    if stop > first:
        start_codes = start_codes.copy()
        start_codes[first:stop] = _moved(start_codes[first:stop], row, af_size, extra)
    # Pieces are in stream order: those ending after moved_from and starting before end.
    first = int((dest + sizes).searchsorted(moved_from, side="right"))
    stop = int(dest.searchsorted(end))
    if stop <= first:
        return EsCopies(dest, src, sizes, start_codes)
    pieces: list[tuple[int, int, int]] = []
    for at, start, size in zip(dest[first:stop].tolist(), src[first:stop].tolist(),
                               sizes[first:stop].tolist(), strict=True):  # fmt: skip
        after = at + size
        spans = ((at, min(after, moved_from), 0), (max(at, moved_from), min(after, split), extra),
                 (max(at, end), after, 0))  # fmt: skip
        pieces += [(lo + shift, start + lo - at, hi - lo) for lo, hi, shift in spans if hi > lo]
        # Each byte of the row's end goes to the last column of its own tail row.
        pieces += [((row + 1 + p - split) * PAYLOAD_ROW_SIZE + PAYLOAD_ROW_SIZE - 1,
                    start + p - at, 1) for p in range(max(at, split), min(after, end))]  # fmt: skip
    pieces.sort()
    new = np.array(pieces, dtype=np.int64).T
    return EsCopies(
        np.concatenate([dest[:first], new[0], dest[stop:]]),
        np.concatenate([src[:first], new[1], src[stop:]]),
        np.concatenate([sizes[:first], new[2], sizes[stop:]]),
        start_codes,
    )


def _write_stream(
    padded: ByteArray, stream: PesStream, plan: StreamPackets, first_rows: Int64Array,
    has_pcr: bool, copies: list[EsCopies] | None = None,
) -> list[Int64Array]:  # fmt: skip
    """Write a stream's PES packets at their rows: adaptation fields, PCR, headers, payload.

    With ``copies``, the elementary-stream bytes are not copied but appended
    there (see :func:`frame_packets`). Returns the rows that open with an
    adaptation field.
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
    if copies is None:
        stream.payload.write(flat, payload_offsets)
    else:
        if not hasattr(stream.payload, "write_framing"):  # faster than isinstance on a Protocol
            raise TypeError(f"{type(stream.payload).__name__} cannot leave copies to its caller")
        pieces = cast(FramedPayloadWriter, stream.payload).write_framing(flat, payload_offsets)
        # Start codes as the flat positions of their 4 bytes (the spreading may part them).
        byte_positions = pieces.start_codes[:, None] + _START_CODE_OFFSETS
        pieces = pieces._replace(start_codes=byte_positions.reshape(-1))
    if plan.padding is not None:
        last = int(first_rows[plan.padding.pes_index]) + plan.padding.last_row
        padding = plan.padding
        _spread_last_row(padded, last, padding.last_af_size, padding.extra_rows)
        af_rows.append(np.arange(last, last + padding.extra_rows + 1))
        if copies is not None:
            pieces = _spread_copies(pieces, last, padding.last_af_size, padding.extra_rows)
    if copies is not None:
        copies.append(pieces)
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


@dataclass(frozen=True)
class FramedPackets:
    """A segment's PES packets laid out and framed, the elementary-stream bytes not yet in.

    ``padded`` (one 184-byte row per TS packet) holds adaptation fields, PES
    headers and the writers' framing; the source bytes go at ``copies``
    (per stream, flat offsets in ``padded``, continuity spreading applied),
    then the start codes at ``start_code_bytes`` (the flat positions of their
    4 bytes, one row each). :func:`finish_packets` puts the rows under
    ``header_words``.
    """

    padded: ByteArray
    header_words: WordArray
    copies: list[EsCopies]  # their start_codes are empty: all are in start_code_bytes
    start_code_bytes: Int64Array  # (start codes, 4)


def _write_streams(
    streams: Sequence[PesStream], pcr_pid: int, copies: list[EsCopies] | None
) -> tuple[ByteArray, WordArray]:
    """Lay out and write the streams' PES packets: the padded buffer and the header words."""
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
        af_rows += _write_stream(padded, stream, plan, rows, stream.pid == pcr_pid, copies)
    words = _header_words(streams, plans, first_rows, order, np.concatenate(af_rows), row_total)
    return padded, words.astype(np.uint32, copy=False)


def finish_packets(padded: ByteArray, header_words: WordArray, leading_packets: bytes) -> ByteArray:
    """``leading_packets`` then the rows of ``padded`` (any shape, whole rows) under
    their 4-byte headers: the flat uint8 array of the segment."""
    lead = len(leading_packets)
    row_total = header_words.size
    out = np.empty(lead + row_total * TS_PACKET_SIZE, dtype=np.uint8)
    out[:lead] = np.frombuffer(leading_packets, dtype=np.uint8)
    packets = out[lead:].reshape(-1, TS_PACKET_SIZE)
    packets[:, _HEADER_SIZE:] = padded.reshape(row_total, PAYLOAD_ROW_SIZE)
    # The headers as one big-endian word per packet (lead is whole packets: aligned).
    packets.view(">u4")[:, 0] = header_words
    return out


def packetize(
    streams: Sequence[PesStream], *, pcr_pid: int, leading_packets: bytes = b""
) -> ByteArray:
    """The TS packets of the streams' PES packets, interleaved by DTS (then PID).

    Returns a flat uint8 array: ``leading_packets`` (the PAT and PMT, whole
    packets) followed by the PES packets. The first TS packet of every PES on
    ``pcr_pid`` carries a PCR ``PCR_LEAD_90K`` before the PES's DTS.
    """
    padded, words = _write_streams(streams, pcr_pid, None)
    return finish_packets(padded, words, leading_packets)


def frame_packets(streams: Sequence[PesStream], *, pcr_pid: int) -> FramedPackets:
    """What :func:`packetize` does but the elementary-stream copies, which are returned.

    The payload writers must be :class:`~openvod.media.ts.pes.FramedPayloadWriter`.
    """
    copies: list[EsCopies] = []
    padded, words = _write_streams(streams, pcr_pid, copies)
    start_codes = [pieces.start_codes for pieces in copies]
    start_code_bytes = np.concatenate(start_codes) if start_codes else np.empty(0, np.int64)
    copies = [pieces._replace(start_codes=_NO_OFFSETS) for pieces in copies]
    return FramedPackets(padded, words, copies, start_code_bytes.reshape(-1, len(START_CODE)))
