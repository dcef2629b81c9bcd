"""Movie fragment boxes: trex, mehd, mfhd, tfhd, tfdt and trun (over numpy columns)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media.mp4.boxes import FullBox, register

# Sample flags (ISO/IEC 14496-12 8.8.3.1): sample_depends_on in bits 24-25,
# sample_is_non_sync_sample in bit 16.
SYNC_SAMPLE_FLAGS = 0x02000000  # depends on no other sample
NON_SYNC_SAMPLE_FLAGS = 0x01010000  # depends on others, not a sync sample

TFHD_BASE_DATA_OFFSET = 0x000001
TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002
TFHD_DEFAULT_DURATION = 0x000008
TFHD_DEFAULT_SIZE = 0x000010
TFHD_DEFAULT_FLAGS = 0x000020
TFHD_DURATION_IS_EMPTY = 0x010000
TFHD_DEFAULT_BASE_IS_MOOF = 0x020000

TRUN_DATA_OFFSET = 0x000001
TRUN_FIRST_SAMPLE_FLAGS = 0x000004
TRUN_DURATIONS = 0x000100
TRUN_SIZES = 0x000200
TRUN_FLAGS = 0x000400
TRUN_COMPOSITION_OFFSETS = 0x000800

_TFHD_OPTIONAL = (
    (TFHD_BASE_DATA_OFFSET, "base_data_offset", ">Q"),
    (TFHD_SAMPLE_DESCRIPTION_INDEX, "sample_description_index", ">I"),
    (TFHD_DEFAULT_DURATION, "default_sample_duration", ">I"),
    (TFHD_DEFAULT_SIZE, "default_sample_size", ">I"),
    (TFHD_DEFAULT_FLAGS, "default_sample_flags", ">I"),
)


@register
@dataclass
class TrackExtendsBox(FullBox):  # trex
    """Track extends (trex): per-track defaults for fragments."""

    fourcc: ClassVar[bytes] = b"trex"
    track_id: int = 1
    default_sample_description_index: int = 1
    default_sample_duration: int = 0
    default_sample_size: int = 0
    default_sample_flags: int = 0

    def body_size(self) -> int:
        return 20

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(
            ">5I",
            self.track_id,
            self.default_sample_description_index,
            self.default_sample_duration,
            self.default_sample_size,
            self.default_sample_flags,
        )

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(*struct.unpack_from(">5I", body, 0))


@register
@dataclass
class MovieExtendsHeaderBox(FullBox):  # mehd
    """Movie extends header (mehd): the whole fragmented duration, in movie ticks."""

    fourcc: ClassVar[bytes] = b"mehd"
    fragment_duration: int = 0

    def version_and_flags(self) -> tuple[int, int]:
        return (1 if self.fragment_duration > 0xFFFFFFFF else 0), 0

    def body_size(self) -> int:
        return 8 if self.version_and_flags()[0] else 4

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">Q" if self.version_and_flags()[0] else ">I", self.fragment_duration)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(struct.unpack_from(">Q" if version == 1 else ">I", body, 0)[0])


@register
@dataclass
class MovieFragmentHeaderBox(FullBox):  # mfhd
    """Movie fragment header (mfhd): the fragment's sequence number."""

    fourcc: ClassVar[bytes] = b"mfhd"
    sequence_number: int = 1

    def body_size(self) -> int:
        return 4

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">I", self.sequence_number)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(struct.unpack_from(">I", body, 0)[0])


@register
@dataclass
class TrackFragmentHeaderBox(FullBox):  # tfhd
    """Track fragment header (tfhd): track id and the defaults its trun leaves out."""

    fourcc: ClassVar[bytes] = b"tfhd"
    track_id: int = 1
    default_base_is_moof: bool = True
    base_data_offset: int | None = None
    sample_description_index: int | None = None
    default_sample_duration: int | None = None
    default_sample_size: int | None = None
    default_sample_flags: int | None = None

    def version_and_flags(self) -> tuple[int, int]:
        flags = TFHD_DEFAULT_BASE_IS_MOOF if self.default_base_is_moof else 0
        for bit, name, _ in _TFHD_OPTIONAL:
            if getattr(self, name) is not None:
                flags |= bit
        return 0, flags

    def body_size(self) -> int:
        present = (getattr(self, name) is not None for _, name, _ in _TFHD_OPTIONAL)
        return 4 + sum(
            struct.calcsize(fmt)
            for (_, _, fmt), p in zip(_TFHD_OPTIONAL, present, strict=True)
            if p
        )

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">I", self.track_id)
        for _, name, fmt in _TFHD_OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out += struct.pack(fmt, value)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        (track_id,) = struct.unpack_from(">I", body, 0)
        box = cls(track_id, bool(flags & TFHD_DEFAULT_BASE_IS_MOOF))
        pos = 4
        for bit, name, fmt in _TFHD_OPTIONAL:
            if flags & bit:
                setattr(box, name, struct.unpack_from(fmt, body, pos)[0])
                pos += struct.calcsize(fmt)
        return box


@register
@dataclass
class TrackFragmentDecodeTimeBox(FullBox):  # tfdt
    """Track fragment decode time (tfdt): the first sample's decode time; always version 1."""

    fourcc: ClassVar[bytes] = b"tfdt"
    base_media_decode_time: int = 0

    def version_and_flags(self) -> tuple[int, int]:
        return 1, 0

    def body_size(self) -> int:
        return 8

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">Q", self.base_media_decode_time)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(struct.unpack_from(">Q" if version == 1 else ">I", body, 0)[0])


@register
@dataclass(eq=False)
class TrackRunBox(FullBox):  # trun
    """Track run (trun): per-sample columns, each optional (None: taken from tfhd).

    Written as version 1 whenever composition offsets are present, so they
    are signed (CMAF). The rows are interleaved with one numpy ``astype``.
    """

    fourcc: ClassVar[bytes] = b"trun"
    sample_count: int = 0
    data_offset: int | None = None
    first_sample_flags: int | None = None
    durations: npt.NDArray[np.uint32] | None = None
    sizes: npt.NDArray[np.uint32] | None = None
    sample_flags: npt.NDArray[np.uint32] | None = None
    composition_offsets: npt.NDArray[np.int32] | None = None

    def _columns(self) -> list[npt.NDArray[np.uint32]]:
        columns = [c for c in (self.durations, self.sizes, self.sample_flags) if c is not None]
        if self.composition_offsets is not None:
            columns.append(self.composition_offsets.astype(np.int32).view(np.uint32))
        for column in columns:
            if len(column) != self.sample_count:
                raise ValueError("trun column length differs from sample_count")
        return columns

    def version_and_flags(self) -> tuple[int, int]:
        flags = 0
        for bit, value in (
            (TRUN_DATA_OFFSET, self.data_offset),
            (TRUN_FIRST_SAMPLE_FLAGS, self.first_sample_flags),
            (TRUN_DURATIONS, self.durations),
            (TRUN_SIZES, self.sizes),
            (TRUN_FLAGS, self.sample_flags),
            (TRUN_COMPOSITION_OFFSETS, self.composition_offsets),
        ):
            if value is not None:
                flags |= bit
        return (1 if self.composition_offsets is not None else 0), flags

    def column_count(self) -> int:
        """How many 32-bit values each sample row carries."""
        arrays = (self.durations, self.sizes, self.sample_flags, self.composition_offsets)
        return sum(a is not None for a in arrays)

    def body_size(self) -> int:
        fixed = 4 + 4 * (self.data_offset is not None) + 4 * (self.first_sample_flags is not None)
        return fixed + 4 * self.column_count() * self.sample_count

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">I", self.sample_count)
        if self.data_offset is not None:
            out += struct.pack(">i", self.data_offset)
        if self.first_sample_flags is not None:
            out += struct.pack(">I", self.first_sample_flags)
        columns = self._columns()
        if columns:
            out += np.column_stack(columns).astype(">u4").tobytes()

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        (count,) = struct.unpack_from(">I", body, 0)
        box = cls(count)
        pos = 4
        if flags & TRUN_DATA_OFFSET:
            box.data_offset = struct.unpack_from(">i", body, pos)[0]
            pos += 4
        if flags & TRUN_FIRST_SAMPLE_FLAGS:
            box.first_sample_flags = struct.unpack_from(">I", body, pos)[0]
            pos += 4
        names = [
            n
            for bit, n in (
                (TRUN_DURATIONS, "durations"),
                (TRUN_SIZES, "sizes"),
                (TRUN_FLAGS, "sample_flags"),
                (TRUN_COMPOSITION_OFFSETS, "composition_offsets"),
            )
            if flags & bit
        ]
        if pos + 4 * len(names) * count > len(body):
            raise MediaError("truncated 'trun' box")
        rows = np.frombuffer(body, ">u4", count * len(names), pos).reshape(count, len(names))
        for index, name in enumerate(names):
            column = rows[:, index].astype(np.uint32)
            setattr(box, name, column.view(np.int32) if name == "composition_offsets" else column)
        return box

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrackRunBox):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]
