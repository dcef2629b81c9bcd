"""Common Encryption boxes (ISO/IEC 23001-7, ISO/IEC 14496-12 8.12, 8.7.8, 8.7.9).

In the init segment a protected sample entry ('encv'/'enca') carries a
protection scheme info box::

    sinf ─ frma (original format, e.g. 'avc1')
         ├ schm (scheme: 'cenc' or 'cbcs', version 1.0)
         └ schi ─ tenc (default KID, IV size or constant IV, pattern)

and the 'moov' carries one 'pssh' per DRM system. In each fragment the
'traf' carries the per-sample IVs and subsample maps in 'senc', their sizes
in 'saiz' and where they start (relative to the 'moof') in 'saio'.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Self

from openvod.errors import MediaError
from openvod.media.mp4.boxes import Box, ContainerBox, FullBox, fourcc_bytes, register

SENC_USE_SUBSAMPLES = 0x000002
AUX_INFO_TYPE_PRESENT = 0x000001
SCHEME_VERSION_1_0 = 0x00010000
KID_SIZE = 16
Subsample = tuple[int, int]
"""(BytesOfClearData, BytesOfProtectedData) of one subsample."""


@register
@dataclass
class OriginalFormatBox(Box):  # frma
    """Original format (frma): the sample entry type before encryption, e.g. 'avc1'."""

    fourcc: ClassVar[bytes] = b"frma"
    data_format: str = "avc1"

    def payload_size(self) -> int:
        return 4

    def write_payload(self, out: bytearray) -> None:
        out += fourcc_bytes(self.data_format)

    @classmethod
    def parse_payload(cls, payload: memoryview) -> Self:
        if len(payload) < 4:
            raise MediaError("'frma' box too short")
        return cls(bytes(payload[:4]).decode("latin-1"))


@register
@dataclass
class SchemeTypeBox(FullBox):  # schm
    """Scheme type (schm): 'cenc' or 'cbcs' and the scheme version (1.0)."""

    fourcc: ClassVar[bytes] = b"schm"
    scheme_type: str = "cenc"
    scheme_version: int = SCHEME_VERSION_1_0
    scheme_uri: str = ""

    def version_and_flags(self) -> tuple[int, int]:
        return 0, 1 if self.scheme_uri else 0

    def body_size(self) -> int:
        uri = len(self.scheme_uri.encode("utf-8")) + 1 if self.scheme_uri else 0
        return 8 + uri

    def write_body(self, out: bytearray) -> None:
        out += fourcc_bytes(self.scheme_type) + struct.pack(">I", self.scheme_version)
        if self.scheme_uri:
            out += self.scheme_uri.encode("utf-8") + b"\0"

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        raw = bytes(body)
        (scheme_version,) = struct.unpack_from(">I", raw, 4)
        uri = raw[8:].split(b"\0", 1)[0].decode("utf-8", "replace") if flags & 1 else ""
        return cls(raw[:4].decode("latin-1"), scheme_version, uri)


@register
class SchemeInformationBox(ContainerBox):  # schi
    """Scheme information (schi): holds the 'tenc'."""

    fourcc = b"schi"


@register
class ProtectionSchemeInfoBox(ContainerBox):  # sinf
    """Protection scheme information (sinf): frma + schm + schi."""

    fourcc = b"sinf"


@register
@dataclass
class TrackEncryptionBox(FullBox):  # tenc
    """Track encryption defaults (tenc).

    Version 0 ('cenc'): per-sample IVs of ``per_sample_iv_size`` bytes (8 or 16).
    Version 1 ('cbcs'): ``crypt_byte_block``:``skip_byte_block`` pattern and,
    with ``per_sample_iv_size`` 0, one ``constant_iv`` for every sample.
    """

    fourcc: ClassVar[bytes] = b"tenc"
    default_kid: bytes = bytes(KID_SIZE)
    per_sample_iv_size: int = 8
    is_protected: int = 1
    crypt_byte_block: int = 0
    skip_byte_block: int = 0
    constant_iv: bytes = b""
    version: int = 0

    def version_and_flags(self) -> tuple[int, int]:
        return self.version, 0

    def _has_constant_iv(self) -> bool:
        return self.is_protected == 1 and self.per_sample_iv_size == 0

    def body_size(self) -> int:
        return 20 + (1 + len(self.constant_iv) if self._has_constant_iv() else 0)

    def write_body(self, out: bytearray) -> None:
        if len(self.default_kid) != KID_SIZE:
            raise ValueError("a KID is 16 bytes")
        pattern = (self.crypt_byte_block << 4) | self.skip_byte_block if self.version else 0
        out += struct.pack(">BBBB", 0, pattern, self.is_protected, self.per_sample_iv_size)
        out += self.default_kid
        if self._has_constant_iv():
            out += bytes([len(self.constant_iv)]) + self.constant_iv

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        raw = bytes(body)
        if len(raw) < 20:
            raise MediaError("truncated 'tenc' box")
        _, pattern, protected, iv_size = raw[:4]
        box = cls(raw[4:20], iv_size, protected, version=version)
        if version:
            box.crypt_byte_block, box.skip_byte_block = pattern >> 4, pattern & 0xF
        if box._has_constant_iv():
            if len(raw) < 21 or len(raw) < 21 + raw[20]:
                raise MediaError("truncated constant IV in 'tenc' box")
            box.constant_iv = raw[21 : 21 + raw[20]]
        return box


@register
@dataclass
class SampleEncryptionBox(FullBox):  # senc
    """Sample encryption (senc): each sample's IV and, for video, its subsample map.

    ``subsamples`` is None when samples are encrypted whole (audio); the IV
    size is not in the box (it comes from 'tenc'), so parsing infers it from
    the payload length (see :meth:`parse_with_iv_size` to give it).
    """

    fourcc: ClassVar[bytes] = b"senc"
    ivs: list[bytes] = field(default_factory=list)
    subsamples: list[list[Subsample]] | None = None

    def version_and_flags(self) -> tuple[int, int]:
        return 0, SENC_USE_SUBSAMPLES if self.subsamples is not None else 0

    def sample_info_sizes(self) -> list[int]:
        """Bytes of each sample's auxiliary information (what 'saiz' records)."""
        if self.subsamples is None:
            return [len(iv) for iv in self.ivs]
        return [len(iv) + 2 + 6 * len(s) for iv, s in zip(self.ivs, self.subsamples, strict=True)]

    def body_size(self) -> int:
        iv_bytes = sum(map(len, self.ivs))  # sizes are asked for often: no list per sample
        if self.subsamples is None:
            return 4 + iv_bytes
        return 4 + iv_bytes + 2 * len(self.subsamples) + 6 * sum(map(len, self.subsamples))

    def write_body(self, out: bytearray) -> None:
        out += struct.pack(">I", len(self.ivs))
        if self.subsamples is None:
            out += b"".join(self.ivs)
            return
        for iv, entries in zip(self.ivs, self.subsamples, strict=True):
            out += iv + struct.pack(">H", len(entries))
            for clear, protected in entries:
                out += struct.pack(">HI", clear, protected)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        (count,) = struct.unpack_from(">I", body, 0)
        if not flags & SENC_USE_SUBSAMPLES:
            rest = len(body) - 4
            if count == 0 or rest % count:
                return cls._parse_entries(flags, body, 0 if count == 0 else -1)
            return cls._parse_entries(flags, body, rest // count)
        for iv_size in (8, 16, 0):
            try:
                return cls._parse_entries(flags, body, iv_size)
            except MediaError:
                continue
        raise MediaError("'senc' box does not parse with an IV size of 0, 8 or 16")

    @classmethod
    def parse_with_iv_size(cls, payload: memoryview | bytes, iv_size: int) -> Self:
        """Parse a 'senc' payload whose per-sample IV size is known (from 'tenc')."""
        view = memoryview(payload)
        (word,) = struct.unpack_from(">I", view, 0)
        return cls._parse_entries(word & 0xFFFFFF, view[4:], iv_size)

    @classmethod
    def _parse_entries(cls, flags: int, body: memoryview, iv_size: int) -> Self:
        if iv_size < 0:
            raise MediaError("'senc' IV size does not divide its payload")
        raw = bytes(body)
        (count,) = struct.unpack_from(">I", raw, 0)
        pos, ivs, maps = 4, [], []
        use_subsamples = bool(flags & SENC_USE_SUBSAMPLES)
        try:
            for _ in range(count):
                ivs.append(raw[pos : pos + iv_size])
                pos += iv_size
                if use_subsamples:
                    (n,) = struct.unpack_from(">H", raw, pos)
                    entries = [struct.unpack_from(">HI", raw, pos + 2 + 6 * i) for i in range(n)]
                    maps.append([(int(c), int(p)) for c, p in entries])
                    pos += 2 + 6 * n
        except struct.error as exc:
            raise MediaError("truncated 'senc' box") from exc
        if pos != len(raw):
            raise MediaError("'senc' box has trailing bytes")
        return cls(ivs, maps if use_subsamples else None)


def _aux_info_type(aux_info_type: str, parameter: int) -> bytes:
    return fourcc_bytes(aux_info_type) + struct.pack(">I", parameter)


@register
@dataclass
class SampleAuxiliaryInformationSizesBox(FullBox):  # saiz
    """Sample auxiliary information sizes (saiz): the size of each sample's 'senc' entry."""

    fourcc: ClassVar[bytes] = b"saiz"
    default_sample_info_size: int = 0
    sample_count: int = 0
    sample_info_sizes: list[int] = field(default_factory=list)
    aux_info_type: str = ""
    aux_info_type_parameter: int = 0

    @classmethod
    def for_sizes(cls, sizes: Sequence[int]) -> SampleAuxiliaryInformationSizesBox:
        """The box for these per-sample sizes, with one default when they are all equal."""
        if sizes and all(s == sizes[0] for s in sizes):
            return cls(sizes[0], len(sizes))
        return cls(0, len(sizes), list(sizes))

    def version_and_flags(self) -> tuple[int, int]:
        return 0, AUX_INFO_TYPE_PRESENT if self.aux_info_type else 0

    def body_size(self) -> int:
        head = 8 if self.aux_info_type else 0
        return head + 5 + (0 if self.default_sample_info_size else self.sample_count)

    def write_body(self, out: bytearray) -> None:
        if self.aux_info_type:
            out += _aux_info_type(self.aux_info_type, self.aux_info_type_parameter)
        out += struct.pack(">BI", self.default_sample_info_size, self.sample_count)
        if not self.default_sample_info_size:
            if len(self.sample_info_sizes) != self.sample_count:
                raise ValueError("'saiz' sizes differ from its sample count")
            out += bytes(self.sample_info_sizes)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        raw, pos = bytes(body), 0
        aux_type, parameter = "", 0
        if flags & AUX_INFO_TYPE_PRESENT:
            aux_type, parameter = raw[:4].decode("latin-1"), struct.unpack_from(">I", raw, 4)[0]
            pos = 8
        default, count = struct.unpack_from(">BI", raw, pos)
        sizes = [] if default else list(raw[pos + 5 : pos + 5 + count])
        if len(sizes) != (0 if default else count):
            raise MediaError("truncated 'saiz' box")
        return cls(default, count, sizes, aux_type, parameter)


@register
@dataclass
class SampleAuxiliaryInformationOffsetsBox(FullBox):  # saio
    """Sample auxiliary information offsets (saio): where the 'senc' sample data starts.

    With tfhd's default-base-is-moof, the offset counts from the first byte
    of the 'moof'.
    """

    fourcc: ClassVar[bytes] = b"saio"
    offsets: list[int] = field(default_factory=lambda: [0])
    aux_info_type: str = ""
    aux_info_type_parameter: int = 0

    def version_and_flags(self) -> tuple[int, int]:
        big = any(o > 0xFFFFFFFF for o in self.offsets)
        return (1 if big else 0), AUX_INFO_TYPE_PRESENT if self.aux_info_type else 0

    def body_size(self) -> int:
        head = 8 if self.aux_info_type else 0
        return head + 4 + (8 if self.version_and_flags()[0] else 4) * len(self.offsets)

    def write_body(self, out: bytearray) -> None:
        if self.aux_info_type:
            out += _aux_info_type(self.aux_info_type, self.aux_info_type_parameter)
        layout = ">Q" if self.version_and_flags()[0] else ">I"
        out += struct.pack(">I", len(self.offsets))
        for offset in self.offsets:
            out += struct.pack(layout, offset)

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        raw, pos = bytes(body), 0
        aux_type, parameter = "", 0
        if flags & AUX_INFO_TYPE_PRESENT:
            aux_type, parameter = raw[:4].decode("latin-1"), struct.unpack_from(">I", raw, 4)[0]
            pos = 8
        (count,) = struct.unpack_from(">I", raw, pos)
        layout = ">Q" if version == 1 else ">I"
        size = struct.calcsize(layout)
        if pos + 4 + count * size > len(raw):
            raise MediaError("truncated 'saio' box")
        offsets = [struct.unpack_from(layout, raw, pos + 4 + i * size)[0] for i in range(count)]
        return cls(offsets, aux_type, parameter)


@register
@dataclass
class ProtectionSystemSpecificHeaderBox(FullBox):  # pssh
    """Protection system specific header (pssh): one DRM system's initialisation data.

    Version 1 lists the KIDs the data applies to; version 0 does not.
    """

    fourcc: ClassVar[bytes] = b"pssh"
    system_id: bytes = bytes(16)
    data: bytes = b""
    key_ids: list[bytes] | None = None

    def version_and_flags(self) -> tuple[int, int]:
        return (0 if self.key_ids is None else 1), 0

    def body_size(self) -> int:
        kids = 0 if self.key_ids is None else 4 + KID_SIZE * len(self.key_ids)
        return 16 + kids + 4 + len(self.data)

    def write_body(self, out: bytearray) -> None:
        if len(self.system_id) != 16:
            raise ValueError("a system id is 16 bytes")
        out += self.system_id
        if self.key_ids is not None:
            if any(len(kid) != KID_SIZE for kid in self.key_ids):
                raise ValueError("a KID is 16 bytes")
            out += struct.pack(">I", len(self.key_ids)) + b"".join(self.key_ids)
        out += struct.pack(">I", len(self.data)) + self.data

    @classmethod
    def parse_body(cls, version: int, flags: int, body: memoryview) -> Self:
        raw = bytes(body)
        system_id, pos, kids = raw[:16], 16, None
        if version > 0:
            (count,) = struct.unpack_from(">I", raw, pos)
            kids = [raw[pos + 4 + i * 16 : pos + 20 + i * 16] for i in range(count)]
            pos += 4 + 16 * count
        (size,) = struct.unpack_from(">I", raw, pos)
        if len(system_id) != 16 or pos + 4 + size > len(raw):
            raise MediaError("truncated 'pssh' box")
        return cls(system_id, raw[pos + 4 : pos + 4 + size], kids)
