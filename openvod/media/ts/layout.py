"""How the PES packets of one stream fill TS packets: pure array arithmetic.

The packetizer fills a *padded payload* buffer of 184-byte rows, one row per
TS packet (everything after its 4-byte header), so that once the buffer is
filled the TS packets are one strided copy. Every PES occupies whole rows:

- first row: adaptation field (flags, PCR and all the stuffing the PES needs),
  then the PES header (always whole in the first packet), then payload;
- following rows: payload, 184 bytes each, contiguous with the first row's.

When the stuffing would leave no room for the header in the first packet,
the first row holds just the adaptation field and the header, and the rest of
the stuffing opens the second row, before the payload. Either way the payload
is contiguous, so writers copy each PES payload (a video frame) in one piece.

Continuity counters. Every PID gets a multiple of 16 packets per segment, so
the counters of segment N+1 continue those of segment N without the origin
knowing segment N. The missing packets go to the stream's largest PES when
it spans two rows or more: its last row's payload is spread over ``missing + 1`` *tail
rows*, the first keeping all but ``missing`` bytes and the others one byte
each, every one behind an adaptation field of stuffing. Writers fill the
buffer as if there were no tail rows; the packetizer then moves those few
bytes into place. A stream whose largest PES fits one TS packet is not padded
and keeps its natural count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PAYLOAD_ROW_SIZE = 184  # a TS packet minus its 4-byte header
CC_MODULUS = 16

Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ContinuityPadding:
    """The extra TS packets of a stream and the PES that carries them."""

    pes_index: int
    extra_rows: int
    last_row: int  # the PES's last row (from its first) before padding
    last_af_size: int  # adaptation field already opening that row


@dataclass(frozen=True)
class StreamPackets:
    """How the PES packets of one stream fill TS packets: per-PES arrays in stream order."""

    header_size: int
    row_total: int  # TS packets of the stream
    row_counts: Int64Array  # TS packets of each PES, continuity padding included
    first_af_sizes: Int64Array  # adaptation field opening a PES's first packet; 0: none
    second_af_sizes: Int64Array  # and its second packet, when the first is full; 0: none
    rows_before: Int64Array  # the stream's TS packets before each PES
    padding: ContinuityPadding | None


def plan_stream(
    header_size: int, payload_sizes: Int64Array, fixed_af_sizes: Int64Array | int
) -> StreamPackets:
    """Lay out the PES packets of one stream (``header_size`` bytes of header each).

    ``fixed_af_sizes`` is the adaptation field each PES needs in its first
    packet whatever its size: 8 bytes with a PCR, 2 for the random access flag
    alone, else 0.
    """
    sizes = payload_sizes + header_size
    rows = (sizes + fixed_af_sizes + PAYLOAD_ROW_SIZE - 1) // PAYLOAD_ROW_SIZE
    slack = rows * PAYLOAD_ROW_SIZE - sizes  # adaptation field bytes in all
    first_af = np.minimum(slack, PAYLOAD_ROW_SIZE - header_size)  # the header stays whole
    second_af = slack - first_af
    padding = _continuity_padding(rows, sizes, second_af)
    if padding is not None:
        rows[padding.pes_index] += padding.extra_rows
    rows_after = rows.cumsum()
    row_total = int(rows_after[-1]) if rows_after.size else 0
    return StreamPackets(
        header_size, row_total, rows, first_af, second_af, rows_after - rows, padding
    )


def _continuity_padding(
    rows: Int64Array, sizes: Int64Array, second_af: Int64Array
) -> ContinuityPadding | None:
    """The packets that make the stream's count a multiple of 16, on its largest PES;
    None when none are missing or that PES fits one row."""
    missing = -int(rows.sum()) % CC_MODULUS
    if not missing:
        return None
    largest = int(sizes.argmax())
    last_row = int(rows[largest]) - 1
    if last_row < 1:
        return None
    last_af = int(second_af[largest]) if last_row == 1 else 0
    return ContinuityPadding(largest, missing, last_row, last_af)
