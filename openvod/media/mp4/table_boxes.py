"""Sample table boxes (stts, ctts, stsc, stsz, stz2, stco, co64, stss) over numpy arrays.

Tables are decoded with ``np.frombuffer`` and encoded with ``astype('>u4')``;
there is never a Python object per entry.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media.mp4.boxes import FullBox, register

U32Array = npt.NDArray[np.uint32]
_U32 = struct.Struct(">I")


def _empty_u32() -> U32Array:
    return np.zeros(0, dtype=np.uint32)


def read_table(
    body: memoryview, columns: int, dtype: str, *, name: str, count_at: int = 0
) -> npt.NDArray[np.generic]:
    """Decode ``entry_count`` (a u32 at ``count_at``) rows of ``columns`` big-endian values.

    Returns a (count, columns) array in the big-endian ``dtype``; callers cast
    to native types. Raises MediaError when the box is shorter than announced.
    """
    if len(body) < count_at + 4:
        raise MediaError(f"truncated '{name}' box")
    (count,) = _U32.unpack_from(body, count_at)
    start = count_at + 4
    item = np.dtype(dtype).itemsize
    if start + count * columns * item > len(body):
        raise MediaError(f"truncated '{name}' box: {count} entries announced")
    table = np.frombuffer(body, dtype=dtype, count=count * columns, offset=start)
    return table.reshape(count, columns)


def write_table(out: bytearray, dtype: str, *columns: npt.NDArray[np.generic]) -> None:
    """Append ``entry_count`` and the interleaved big-endian rows of ``columns``."""
    count = len(columns[0]) if columns else 0
    table = np.empty((count, len(columns)), dtype=dtype)
    for index, column in enumerate(columns):
        table[:, index] = column
    out += _U32.pack(count) + table.tobytes()


class _ArrayBox(FullBox):
    """Boxes holding arrays compare by their serialised bytes."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


@register
@dataclass(eq=False)
class TimeToSampleBox(_ArrayBox):  # stts
    """Decoding time to sample (stts): runs of equal sample durations."""

    fourcc: ClassVar[bytes] = b"stts"
    sample_counts: U32Array = field(default_factory=_empty_u32)
    sample_deltas: U32Array = field(default_factory=_empty_u32)

    def body_size(self) -> int:
        return 4 + 8 * len(self.sample_counts)

    def write_body(self, out: bytearray) -> None:
        write_table(out, ">u4", self.sample_counts, self.sample_deltas)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        table = read_table(body, 2, ">u4", name="stts")
        return cls(table[:, 0].astype(np.uint32), table[:, 1].astype(np.uint32))


@register
@dataclass(eq=False)
class CompositionOffsetBox(_ArrayBox):  # ctts
    """Composition time to sample (ctts): runs of equal composition offsets.

    Offsets are read as signed in both versions: muxers write negative
    offsets in version 0 too, and no real offset reaches 2**31.
    """

    fourcc: ClassVar[bytes] = b"ctts"
    sample_counts: U32Array = field(default_factory=_empty_u32)
    sample_offsets: npt.NDArray[np.int32] = field(
        default_factory=lambda: np.zeros(0, dtype=np.int32)
    )

    def version_and_flags(self) -> tuple[int, int]:
        return (1 if bool(np.any(self.sample_offsets < 0)) else 0), 0

    def body_size(self) -> int:
        return 4 + 8 * len(self.sample_counts)

    def write_body(self, out: bytearray) -> None:
        offsets = self.sample_offsets.astype(np.int32).view(np.uint32)
        write_table(out, ">u4", self.sample_counts, offsets)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        table = read_table(body, 2, ">i4", name="ctts")
        return cls(table[:, 0].astype(np.uint32), table[:, 1].astype(np.int32))


@register
@dataclass(eq=False)
class SampleToChunkBox(_ArrayBox):  # stsc
    """Sample to chunk (stsc): runs of chunks with the same number of samples."""

    fourcc: ClassVar[bytes] = b"stsc"
    first_chunks: U32Array = field(default_factory=_empty_u32)  # 1-based
    samples_per_chunk: U32Array = field(default_factory=_empty_u32)
    description_indexes: U32Array = field(default_factory=_empty_u32)

    def body_size(self) -> int:
        return 4 + 12 * len(self.first_chunks)

    def write_body(self, out: bytearray) -> None:
        write_table(out, ">u4", self.first_chunks, self.samples_per_chunk, self.description_indexes)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        table = read_table(body, 3, ">u4", name="stsc").astype(np.uint32)
        return cls(table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy())


@register
@dataclass(eq=False)
class SampleSizeBox(_ArrayBox):  # stsz
    """Sample sizes (stsz): one size for all samples, or a size per sample."""

    fourcc: ClassVar[bytes] = b"stsz"
    sample_size: int = 0  # non-zero: every sample has this size
    sample_count: int = 0
    entry_sizes: U32Array = field(default_factory=_empty_u32)

    def sizes(self) -> U32Array:
        """The size of every sample."""
        if self.sample_size:
            return np.full(self.sample_count, self.sample_size, dtype=np.uint32)
        return self.entry_sizes

    def body_size(self) -> int:
        return 8 + (0 if self.sample_size else 4 * len(self.entry_sizes))

    def write_body(self, out: bytearray) -> None:
        if self.sample_size:
            out += struct.pack(">II", self.sample_size, self.sample_count)
            return
        out += _U32.pack(0)
        write_table(out, ">u4", self.entry_sizes)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        if len(body) < 8:
            raise MediaError("truncated 'stsz' box")
        size, count = struct.unpack_from(">II", body, 0)
        if size:
            return cls(size, count)
        sizes = read_table(body, 1, ">u4", name="stsz", count_at=4)[:, 0]
        return cls(0, count, sizes.astype(np.uint32))


@register
@dataclass(eq=False)
class CompactSampleSizeBox(_ArrayBox):  # stz2
    """Compact sample sizes (stz2): 4-, 8- or 16-bit sizes."""

    fourcc: ClassVar[bytes] = b"stz2"
    field_size: int = 16
    entry_sizes: U32Array = field(default_factory=_empty_u32)

    def body_size(self) -> int:
        return 8 + (len(self.entry_sizes) * self.field_size + 7) // 8

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">II", self.field_size, len(self.entry_sizes))
        sizes = self.entry_sizes
        if self.field_size == 4:
            padded = np.zeros(len(sizes) + (len(sizes) & 1), dtype=np.uint8)
            padded[: len(sizes)] = sizes
            out += ((padded[0::2] << 4) | padded[1::2]).astype(np.uint8).tobytes()
        else:
            out += sizes.astype(">u2" if self.field_size == 16 else "u1").tobytes()

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        field_size, count = struct.unpack_from(">II", body, 0)
        field_size &= 0xFF
        if field_size not in (4, 8, 16):
            raise MediaError(f"'stz2' field size {field_size} is not 4, 8 or 16")
        if 8 + (count * field_size + 7) // 8 > len(body):
            raise MediaError("truncated 'stz2' box")
        if field_size == 4:
            packed = np.frombuffer(body, dtype=np.uint8, count=(count + 1) // 2, offset=8)
            sizes = np.column_stack((packed >> 4, packed & 0xF)).reshape(-1)[:count]
        else:
            sizes = np.frombuffer(
                body, dtype=">u2" if field_size == 16 else "u1", count=count, offset=8
            )
        return cls(field_size, sizes.astype(np.uint32))


@register
@dataclass(eq=False)
class ChunkOffsetBox(_ArrayBox):  # stco
    """32-bit chunk offsets (stco)."""

    fourcc: ClassVar[bytes] = b"stco"
    chunk_offsets: npt.NDArray[np.uint64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.uint64)
    )

    def body_size(self) -> int:
        return 4 + 4 * len(self.chunk_offsets)

    def write_body(self, out: bytearray) -> None:
        if len(self.chunk_offsets) and int(self.chunk_offsets.max()) > 0xFFFFFFFF:
            raise ValueError("chunk offset beyond 4 GiB: use 'co64'")
        write_table(out, ">u4", self.chunk_offsets)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(read_table(body, 1, ">u4", name="stco")[:, 0].astype(np.uint64))


@register
@dataclass(eq=False)
class ChunkLargeOffsetBox(_ArrayBox):  # co64
    """64-bit chunk offsets (co64)."""

    fourcc: ClassVar[bytes] = b"co64"
    chunk_offsets: npt.NDArray[np.uint64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.uint64)
    )

    def body_size(self) -> int:
        return 4 + 8 * len(self.chunk_offsets)

    def write_body(self, out: bytearray) -> None:
        write_table(out, ">u8", self.chunk_offsets)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(read_table(body, 1, ">u8", name="co64")[:, 0].astype(np.uint64))


@register
@dataclass(eq=False)
class SyncSampleBox(_ArrayBox):  # stss
    """Sync samples (stss): 1-based numbers of the random-access samples."""

    fourcc: ClassVar[bytes] = b"stss"
    sample_numbers: U32Array = field(default_factory=_empty_u32)

    def body_size(self) -> int:
        return 4 + 4 * len(self.sample_numbers)

    def write_body(self, out: bytearray) -> None:
        write_table(out, ">u4", self.sample_numbers)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(read_table(body, 1, ">u4", name="stss")[:, 0].astype(np.uint32))
