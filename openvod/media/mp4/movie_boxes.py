"""Movie and track header boxes: mvhd, tkhd, mdhd, hdlr, media headers, dref, stsd, elst."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple, Self

from openvod.errors import MediaError
from openvod.media.mp4.boxes import (
    Box,
    FullBox,
    RawBox,
    fourcc_bytes,
    iter_boxes,
    parse_box,
    register,
)

IDENTITY_MATRIX: tuple[int, ...] = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_MAX_U32 = 0xFFFFFFFF
_MATRIX = struct.Struct(">9i")
_TIMES_V0 = struct.Struct(">IIII")  # creation, modification, timescale|track_id, duration
_TIMES_V1 = struct.Struct(">QQIQ")


def _times(version: int, body: memoryview) -> tuple[tuple[int, int, int, int], int]:
    """Decode the (creation, modification, x, duration) prefix of mvhd/mdhd."""
    layout = _TIMES_V1 if version == 1 else _TIMES_V0
    values = layout.unpack_from(body, 0)
    return (values[0], values[1], values[2], values[3]), layout.size


def _pack_times(version: int, creation: int, modification: int, mid: int, duration: int) -> bytes:
    layout = _TIMES_V1 if version == 1 else _TIMES_V0
    return layout.pack(creation, modification, mid, duration)


def _needs_v1(*values: int) -> int:
    return 1 if any(v > _MAX_U32 for v in values) else 0


@register
@dataclass
class MovieHeaderBox(FullBox):  # mvhd
    """Movie header (mvhd): the movie timescale and duration."""

    fourcc: ClassVar[bytes] = b"mvhd"
    timescale: int = 1000
    duration: int = 0
    next_track_id: int = 2
    creation_time: int = 0
    modification_time: int = 0
    rate: int = 0x10000
    volume: int = 0x100
    matrix: tuple[int, ...] = IDENTITY_MATRIX

    def version_and_flags(self) -> tuple[int, int]:
        return _needs_v1(self.duration, self.creation_time, self.modification_time), 0

    def body_size(self) -> int:
        return (28 if self.version_and_flags()[0] else 16) + 80

    def write_body(self, out: bytearray) -> None:
        version = self.version_and_flags()[0]
        out += _pack_times(
            version, self.creation_time, self.modification_time, self.timescale, self.duration
        )
        out += struct.pack(">ih10x", self.rate, self.volume) + _MATRIX.pack(*self.matrix)
        out += bytes(24) + struct.pack(">I", self.next_track_id)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        (created, modified, timescale, duration), pos = _times(version, body)
        rate, volume = struct.unpack_from(">ih", body, pos)
        matrix = _MATRIX.unpack_from(body, pos + 16)
        (next_id,) = struct.unpack_from(">I", body, pos + 76)
        return cls(timescale, duration, next_id, created, modified, rate, volume, matrix)


@register
@dataclass
class TrackHeaderBox(FullBox):  # tkhd
    """Track header (tkhd): track id, duration in movie ticks, presentation size."""

    fourcc: ClassVar[bytes] = b"tkhd"
    track_id: int = 1
    duration: int = 0
    width: int = 0  # 16.16 fixed point
    height: int = 0  # 16.16 fixed point
    volume: int = 0
    flags: int = 0x3  # enabled | in movie
    layer: int = 0
    alternate_group: int = 0
    creation_time: int = 0
    modification_time: int = 0
    matrix: tuple[int, ...] = IDENTITY_MATRIX

    def version_and_flags(self) -> tuple[int, int]:
        return _needs_v1(self.duration, self.creation_time, self.modification_time), self.flags

    def body_size(self) -> int:
        return (32 if self.version_and_flags()[0] else 20) + 60

    def write_body(self, out: bytearray) -> None:
        if self.version_and_flags()[0]:
            head = struct.pack(
                ">QQI4xQ", self.creation_time, self.modification_time, self.track_id, self.duration
            )
        else:
            head = struct.pack(
                ">III4xI", self.creation_time, self.modification_time, self.track_id, self.duration
            )
        out += head + struct.pack(">8xhhh2x", self.layer, self.alternate_group, self.volume)
        out += _MATRIX.pack(*self.matrix) + struct.pack(">II", self.width, self.height)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        layout = ">QQI4xQ" if version == 1 else ">III4xI"
        created, modified, track_id, duration = struct.unpack_from(layout, body, 0)
        pos = struct.calcsize(layout)
        layer, group, volume = struct.unpack_from(">8xhhh2x", body, pos)
        matrix = _MATRIX.unpack_from(body, pos + 16)
        width, height = struct.unpack_from(">II", body, pos + 52)
        return cls(
            track_id,
            duration,
            width,
            height,
            volume,
            flags,
            layer,
            group,
            created,
            modified,
            matrix,
        )


def pack_language(language: str) -> int:
    """Pack an ISO 639-2/T code into mdhd's 15 bits ('und' when not three letters a-z)."""
    code = language if len(language) == 3 and language.isalpha() else "und"
    value = 0
    for char in code.lower():
        value = (value << 5) | ((ord(char) - 0x60) & 0x1F)
    return value


def unpack_language(value: int) -> str:
    """Unpack mdhd's 15-bit language code ('und' when unset or invalid)."""
    chars = [((value >> shift) & 0x1F) + 0x60 for shift in (10, 5, 0)]
    if not all(0x61 <= c <= 0x7A for c in chars):
        return "und"
    return bytes(chars).decode("ascii")


@register
@dataclass
class MediaHeaderBox(FullBox):  # mdhd
    """Media header (mdhd): the track's timescale, duration and language."""

    fourcc: ClassVar[bytes] = b"mdhd"
    timescale: int = 1000
    duration: int = 0
    language: str = "und"
    creation_time: int = 0
    modification_time: int = 0

    def version_and_flags(self) -> tuple[int, int]:
        return _needs_v1(self.duration, self.creation_time, self.modification_time), 0

    def body_size(self) -> int:
        return (28 if self.version_and_flags()[0] else 16) + 4

    def write_body(self, out: bytearray) -> None:
        version = self.version_and_flags()[0]
        out += _pack_times(
            version, self.creation_time, self.modification_time, self.timescale, self.duration
        )
        out += struct.pack(">HH", pack_language(self.language), 0)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        (created, modified, timescale, duration), pos = _times(version, body)
        (language,) = struct.unpack_from(">H", body, pos)
        return cls(timescale, duration, unpack_language(language), created, modified)


@register
@dataclass
class HandlerBox(FullBox):  # hdlr
    """Handler reference (hdlr): 'vide', 'soun', 'text', 'subt', ..."""

    fourcc: ClassVar[bytes] = b"hdlr"
    handler_type: str = "vide"
    name: str = ""

    def body_size(self) -> int:
        return 20 + len(self.name.encode("utf-8")) + 1

    def write_body(self, out: bytearray) -> None:
        out += bytes(4) + fourcc_bytes(self.handler_type) + bytes(12)
        out += self.name.encode("utf-8") + b"\0"

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        if len(body) < 8:
            raise MediaError("'hdlr' box too short")
        raw = bytes(body)
        name = raw[20:].split(b"\0", 1)[0].decode("utf-8", "replace")
        return cls(raw[4:8].decode("latin-1"), name)


@register
@dataclass
class VideoMediaHeaderBox(FullBox):  # vmhd
    """Video media header (vmhd)."""

    fourcc: ClassVar[bytes] = b"vmhd"
    graphics_mode: int = 0
    opcolor: tuple[int, int, int] = (0, 0, 0)

    def version_and_flags(self) -> tuple[int, int]:
        return 0, 1  # flag 1 is mandatory

    def body_size(self) -> int:
        return 8

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">4H", self.graphics_mode, *self.opcolor)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        mode, red, green, blue = struct.unpack_from(">4H", body, 0)
        return cls(mode, (red, green, blue))


@register
@dataclass
class SoundMediaHeaderBox(FullBox):  # smhd
    """Sound media header (smhd)."""

    fourcc: ClassVar[bytes] = b"smhd"
    balance: int = 0

    def body_size(self) -> int:
        return 4

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">hH", self.balance, 0)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(struct.unpack_from(">h", body, 0)[0])


@dataclass
class _EmptyFullBox(FullBox):
    """A full box with nothing after its version and flags."""

    def body_size(self) -> int:
        return 0

    def write_body(self, out: bytearray) -> None:
        pass

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls()


@register
@dataclass
class NullMediaHeaderBox(_EmptyFullBox):  # nmhd
    """Null media header (nmhd), for text tracks such as WebVTT."""

    fourcc: ClassVar[bytes] = b"nmhd"


@register
@dataclass
class SubtitleMediaHeaderBox(_EmptyFullBox):  # sthd
    """Subtitle media header (sthd), for 'subt' tracks such as TTML."""

    fourcc: ClassVar[bytes] = b"sthd"


@register
@dataclass
class DataEntryUrlBox(FullBox):  # 'url '
    """A data entry (url); flag 1 means "in this file", with no location."""

    fourcc: ClassVar[bytes] = b"url "
    location: str = ""

    def version_and_flags(self) -> tuple[int, int]:
        return 0, 0 if self.location else 1

    def body_size(self) -> int:
        return len(self.location.encode("utf-8")) + 1 if self.location else 0

    def write_body(self, out: bytearray) -> None:
        if self.location:
            out += self.location.encode("utf-8") + b"\0"

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        if flags & 1:
            return cls()
        return cls(bytes(body).split(b"\0", 1)[0].decode("utf-8", "replace"))


def _parse_entries(body: memoryview, *, raw: bool) -> list[Box]:
    """Parse the ``entry_count`` + boxes layout shared by dref and stsd.

    With ``raw`` the entries stay bytes (sample entries are copied verbatim).
    """
    (count,) = struct.unpack_from(">I", body, 0)
    headers = list(iter_boxes(body, 4, len(body)))
    if len(headers) < count:
        raise MediaError(f"expected {count} entries, found {len(headers)}")
    if raw:
        return [RawBox(h.fourcc, bytes(body[h.payload_offset : h.end])) for h in headers[:count]]
    return [parse_box(body, h) for h in headers[:count]]


@register
@dataclass
class DataReferenceBox(FullBox):  # dref
    """Data reference (dref): the list of places sample data lives."""

    fourcc: ClassVar[bytes] = b"dref"
    entries: list[Box] = field(default_factory=lambda: [DataEntryUrlBox()])

    def body_size(self) -> int:
        return 4 + sum(entry.size() for entry in self.entries)

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">I", len(self.entries))
        for entry in self.entries:
            entry.write(out)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(_parse_entries(body, raw=False))


@register
@dataclass
class SampleDescriptionBox(FullBox):  # stsd
    """Sample descriptions (stsd); entries stay raw so they copy byte for byte."""

    fourcc: ClassVar[bytes] = b"stsd"
    entries: list[Box] = field(default_factory=list)

    def body_size(self) -> int:
        return 4 + sum(entry.size() for entry in self.entries)

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">I", len(self.entries))
        for entry in self.entries:
            entry.write(out)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        return cls(_parse_entries(body, raw=True))


class EditEntry(NamedTuple):
    """One edit: ``segment_duration`` in movie ticks, ``media_time`` in track ticks (-1: empty)."""

    segment_duration: int
    media_time: int
    rate_integer: int = 1
    rate_fraction: int = 0


@register
@dataclass
class EditListBox(FullBox):  # elst
    """Edit list (elst): maps the media timeline onto the presentation."""

    fourcc: ClassVar[bytes] = b"elst"
    entries: list[EditEntry] = field(default_factory=list)

    def version_and_flags(self) -> tuple[int, int]:
        big = any(
            e.segment_duration > _MAX_U32 or abs(e.media_time) > 0x7FFFFFFF for e in self.entries
        )
        return (1 if big else 0), 0

    def _layout(self, version: int) -> struct.Struct:
        return struct.Struct(">Qqhh" if version == 1 else ">Iihh")

    def body_size(self) -> int:
        return 4 + len(self.entries) * self._layout(self.version_and_flags()[0]).size

    def write_body(self, out: bytearray) -> None:
        layout = self._layout(self.version_and_flags()[0])
        out += struct.pack(">I", len(self.entries))
        for entry in self.entries:
            out += layout.pack(*entry)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        layout = struct.Struct(">Qqhh" if version == 1 else ">Iihh")
        (count,) = struct.unpack_from(">I", body, 0)
        if 4 + count * layout.size > len(body):
            raise MediaError("truncated 'elst' box")
        return cls(
            [EditEntry(*layout.unpack_from(body, 4 + i * layout.size)) for i in range(count)]
        )
