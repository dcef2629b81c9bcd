"""ISO BMFF box model: header helpers, a fourcc registry and the container boxes.

Every box the origin writes is a dataclass subclass of :class:`Box` that can
parse itself (:meth:`Box.parse_payload`), write itself (:meth:`Box.write`) and
tell its size without serialising (:meth:`Box.size`), so Content-Length and
``trun`` data offsets are known before any bytes exist (shaka-packager's
``ComputeSize``). Unknown boxes pass through untouched as :class:`RawBox`.

The concrete boxes live in :mod:`.movie_boxes`, :mod:`.table_boxes` and
:mod:`.fragment_boxes`; they register themselves in :data:`BOX_TYPES` when the
package is imported.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Self, TypeVar

from openvod.errors import MediaError

Buffer = bytes | bytearray | memoryview

HEADER_SIZE = 8
LARGE_HEADER_SIZE = 16
_MAX_U32 = 0xFFFFFFFF
_U32 = struct.Struct(">I")
_U32_FOURCC = struct.Struct(">I4s")
_U64 = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class BoxHeader:
    """Where one box sits in a buffer: its type, start, header length and total size."""

    fourcc: bytes
    offset: int
    header_size: int
    size_bytes: int

    @property
    def payload_offset(self) -> int:
        """Offset of the first payload byte (just after the header)."""
        return self.offset + self.header_size

    @property
    def end(self) -> int:
        """Offset one past the box's last byte."""
        return self.offset + self.size_bytes

    @property
    def name(self) -> str:
        """The fourcc as text, for messages."""
        return self.fourcc.decode("latin-1")


def read_box_header(data: Buffer, offset: int, end: int) -> BoxHeader | None:
    """Decode the header of the box at ``offset`` whose container ends at ``end``.

    Returns None when fewer than the header's bytes are available before
    ``end``. A size of 0 means "to the end of the container"; size 1 means a
    64-bit size follows the type. The box may extend past ``end``: callers
    that need the whole box check :attr:`BoxHeader.end` themselves.
    """
    if offset + HEADER_SIZE > end:
        return None
    size, fourcc = _U32_FOURCC.unpack_from(data, offset)
    header_size = HEADER_SIZE
    if size == 1:
        if offset + LARGE_HEADER_SIZE > end:
            return None
        (size,) = _U64.unpack_from(data, offset + HEADER_SIZE)
        header_size = LARGE_HEADER_SIZE
    elif size == 0:
        size = end - offset
    if size < header_size:
        raise MediaError(f"box '{fourcc.decode('latin-1')}' at {offset} has invalid size {size}")
    return BoxHeader(fourcc, offset, header_size, size)


def iter_boxes(data: Buffer, start: int, end: int) -> Iterator[BoxHeader]:
    """Yield the headers of the consecutive boxes filling ``data[start:end]``.

    Raises MediaError when a box is truncated or overruns its container.
    """
    offset = start
    while offset < end:
        header = read_box_header(data, offset, end)
        if header is None or header.end > end:
            raise MediaError(f"truncated box at offset {offset} (container ends at {end})")
        yield header
        offset = header.end


def box_header_bytes(fourcc: bytes, payload_size: int) -> bytes:
    """The header for a box with ``payload_size`` payload bytes (64-bit size when needed)."""
    size = payload_size + HEADER_SIZE
    if size <= _MAX_U32:
        return _U32_FOURCC.pack(size, fourcc)
    return _U32_FOURCC.pack(1, fourcc) + _U64.pack(payload_size + LARGE_HEADER_SIZE)


def header_size_for(payload_size: int) -> int:
    """The header length a box with ``payload_size`` payload bytes needs."""
    return HEADER_SIZE if payload_size + HEADER_SIZE <= _MAX_U32 else LARGE_HEADER_SIZE


class Box:
    """Base of every box: reads, writes and sizes itself.

    Subclasses set ``fourcc`` and implement :meth:`payload_size`,
    :meth:`write_payload` and :meth:`parse_payload`.
    """

    fourcc: ClassVar[bytes] = b""

    def payload_size(self) -> int:
        """Number of payload bytes (everything after the header)."""
        raise NotImplementedError

    def write_payload(self, out: bytearray) -> None:
        """Append the payload bytes to ``out``."""
        raise NotImplementedError

    @classmethod
    def parse_payload(cls, payload: memoryview) -> Self:
        """Build the box from its payload bytes."""
        raise NotImplementedError

    def box_fourcc(self) -> bytes:
        """This box's type (per instance, so :class:`RawBox` can carry any)."""
        return self.fourcc

    def size(self) -> int:
        """Total size in bytes, header included, computed without serialising."""
        payload = self.payload_size()
        return payload + header_size_for(payload)

    def write(self, out: bytearray) -> None:
        """Append the whole box (header and payload) to ``out``."""
        out += box_header_bytes(self.box_fourcc(), self.payload_size())
        self.write_payload(out)

    def to_bytes(self) -> bytes:
        """The serialised box."""
        out = bytearray()
        self.write(out)
        return bytes(out)


class FullBox(Box):
    """A box whose payload starts with a version byte and 24 bits of flags."""

    def version_and_flags(self) -> tuple[int, int]:
        """The (version, flags) to write; usually derived from the fields."""
        return 0, 0

    def body_size(self) -> int:
        """Payload bytes after version and flags."""
        raise NotImplementedError

    def write_body(self, out: bytearray) -> None:
        """Append the payload bytes after version and flags."""
        raise NotImplementedError

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        """Build the box from its version, flags and remaining payload."""
        raise NotImplementedError

    def payload_size(self) -> int:
        return 4 + self.body_size()

    def write_payload(self, out: bytearray) -> None:
        version, flags = self.version_and_flags()
        out += _U32.pack((version << 24) | flags)
        self.write_body(out)

    @classmethod
    def parse_payload(cls, payload: memoryview) -> Self:
        if len(payload) < 4:
            raise MediaError(f"'{cls.fourcc.decode('latin-1')}' box too short")
        (word,) = _U32.unpack_from(payload, 0)
        try:
            return cls.parse_body(word >> 24, word & 0xFFFFFF, payload[4:])
        except struct.error as exc:
            raise MediaError(f"truncated '{cls.fourcc.decode('latin-1')}' box") from exc


BoxT = TypeVar("BoxT", bound=type[Box])

BOX_TYPES: dict[bytes, type[Box]] = {}
"""The fourcc registry: every box type openvod understands, by fourcc."""


def register(cls: BoxT) -> BoxT:
    """Class decorator adding a box type to :data:`BOX_TYPES`."""
    BOX_TYPES[cls.fourcc] = cls
    return cls


@dataclass(eq=True)
class RawBox(Box):
    """A box kept as bytes: unknown types, and sample entries copied verbatim."""

    kind: bytes = b"free"
    payload: bytes = b""

    def box_fourcc(self) -> bytes:
        return self.kind

    def payload_size(self) -> int:
        return len(self.payload)

    def write_payload(self, out: bytearray) -> None:
        out += self.payload

    @classmethod
    def parse_payload(cls, payload: memoryview) -> Self:
        return cls(b"free", bytes(payload))

    @classmethod
    def from_bytes(cls, data: Buffer) -> RawBox:
        """Wrap one whole serialised box (header included)."""
        header = read_box_header(data, 0, len(data))
        if header is None or header.end != len(data):
            raise MediaError("not exactly one box")
        return cls(header.fourcc, bytes(data[header.payload_offset : header.end]))


def parse_box(data: Buffer, header: BoxHeader) -> Box:
    """Parse the box described by ``header`` with its registered class, else as RawBox."""
    view = memoryview(data)[header.payload_offset : header.end]
    cls = BOX_TYPES.get(header.fourcc)
    if cls is None:
        return RawBox(header.fourcc, bytes(view))
    return cls.parse_payload(view)


def parse_boxes(data: Buffer, start: int = 0, end: int | None = None) -> list[Box]:
    """Parse the consecutive boxes in ``data[start:end]``."""
    stop = len(data) if end is None else end
    return [parse_box(data, header) for header in iter_boxes(data, start, stop)]


@dataclass(eq=False)
class ContainerBox(Box):
    """A box whose payload is only child boxes (moov, trak, moof, ...)."""

    children: list[Box] = field(default_factory=list)

    def payload_size(self) -> int:
        return sum(child.size() for child in self.children)

    def write_payload(self, out: bytearray) -> None:
        for child in self.children:
            child.write(out)

    @classmethod
    def parse_payload(cls, payload: memoryview) -> Self:
        return cls(parse_boxes(payload))

    def find(self, fourcc: bytes) -> Box | None:
        """The first child of a type, or None."""
        return next((c for c in self.children if c.box_fourcc() == fourcc), None)

    def find_all(self, fourcc: bytes) -> list[Box]:
        """Every child of a type, in order."""
        return [c for c in self.children if c.box_fourcc() == fourcc]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


@register
class MovieBox(ContainerBox):  # moov
    """The movie box (moov): everything about the presentation except the media data."""

    fourcc = b"moov"


@register
class TrackBox(ContainerBox):  # trak
    """One track (trak)."""

    fourcc = b"trak"


@register
class EditBox(ContainerBox):  # edts
    """The edit box (edts), holding the edit list."""

    fourcc = b"edts"


@register
class MediaBox(ContainerBox):  # mdia
    """The track's media (mdia)."""

    fourcc = b"mdia"


@register
class MediaInformationBox(ContainerBox):  # minf
    """Media information (minf)."""

    fourcc = b"minf"


@register
class DataInformationBox(ContainerBox):  # dinf
    """Data information (dinf): where the media data lives."""

    fourcc = b"dinf"


@register
class SampleTableBox(ContainerBox):  # stbl
    """The sample table (stbl)."""

    fourcc = b"stbl"


@register
class MovieExtendsBox(ContainerBox):  # mvex
    """Movie extends (mvex): announces that fragments follow."""

    fourcc = b"mvex"


@register
class MovieFragmentBox(ContainerBox):  # moof
    """A movie fragment (moof)."""

    fourcc = b"moof"


@register
class TrackFragmentBox(ContainerBox):  # traf
    """One track's part of a fragment (traf)."""

    fourcc = b"traf"


@register
@dataclass
class FileTypeBox(Box):  # ftyp
    """File type and compatibility (ftyp)."""

    fourcc: ClassVar[bytes] = b"ftyp"
    major_brand: str = "isom"
    minor_version: int = 0
    compatible_brands: tuple[str, ...] = ()

    def payload_size(self) -> int:
        return 8 + 4 * len(self.compatible_brands)

    def write_payload(self, out: bytearray) -> None:
        out += fourcc_bytes(self.major_brand) + _U32.pack(self.minor_version)
        for brand in self.compatible_brands:
            out += fourcc_bytes(brand)

    @classmethod
    def parse_payload(cls, payload: memoryview) -> Self:
        if len(payload) < 8:
            raise MediaError("'ftyp' box too short")
        data = bytes(payload)
        brands = tuple(data[i : i + 4].decode("latin-1") for i in range(8, len(data) - 3, 4))
        return cls(data[:4].decode("latin-1"), _U32.unpack_from(data, 4)[0], brands)


def fourcc_bytes(text: str) -> bytes:
    """Encode a four-character code, checking its length."""
    raw = text.encode("latin-1")
    if len(raw) != 4:
        raise ValueError(f"not a four-character code: {text!r}")
    return raw


def mdat_header(payload_size: int) -> bytes:
    """The header of an 'mdat' box carrying ``payload_size`` bytes of sample data."""
    return box_header_bytes(b"mdat", payload_size)
