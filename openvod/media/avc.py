"""H.264 (and HEVC) bitstream helpers: decoder configuration records and Annex B.

MP4 stores NAL units with a big-endian length prefix ("AVCC" framing) and the
parameter sets in the sample entry (``avcC``/``hvcC``); MPEG-TS carries an
Annex B byte stream, where NAL units follow start codes, every access unit
begins with an access unit delimiter and the parameter sets travel in-band
before every random access point. This module converts the former into the
latter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError

NalCodec = Literal["avc", "hevc"]
START_CODE = b"\x00\x00\x00\x01"

# primary_pic_type 7 (any slice type) followed by the rbsp stop bit.
AVC_AUD = START_CODE + b"\x09\xf0"
# nal_unit_type 35, layer 0, temporal id 1; pic_type 2 (I, P or B) and the stop bit.
HEVC_AUD = START_CODE + b"\x46\x01\x50"

_AVC_AUD_TYPE = 9
_AVC_SPS_TYPE = 7
_HEVC_AUD_TYPE = 35
_HEVC_SPS_TYPE = 33

Chunk = bytes | memoryview


@dataclass(frozen=True)
class AvcConfig:
    """The AVCDecoderConfigurationRecord of an ``avcC`` box (ISO/IEC 14496-15 §5.3.3)."""

    profile_idc: int
    profile_compatibility: int
    level_idc: int
    nal_length_size: int  # bytes of the length prefix of each NAL unit in a sample: 1, 2 or 4
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]

    codec: NalCodec = "avc"

    @property
    def parameter_sets(self) -> tuple[bytes, ...]:
        """The parameter sets in the order a decoder needs them."""
        return self.sps + self.pps


@dataclass(frozen=True)
class HevcConfig:
    """The HEVCDecoderConfigurationRecord of an ``hvcC`` box (ISO/IEC 14496-15 §8.3.3)."""

    nal_length_size: int
    vps: tuple[bytes, ...]
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]

    codec: NalCodec = "hevc"

    @property
    def parameter_sets(self) -> tuple[bytes, ...]:
        """The parameter sets in the order a decoder needs them."""
        return self.vps + self.sps + self.pps


NalConfig = AvcConfig | HevcConfig


def _read_sized_units(payload: bytes, pos: int, count: int) -> tuple[tuple[bytes, ...], int]:
    """``count`` NAL units, each after a 16-bit length, from ``pos``; returns them and the end."""
    units = []
    for _ in range(count):
        if pos + 2 > len(payload):
            raise MediaError("truncated decoder configuration record")
        size = int.from_bytes(payload[pos : pos + 2], "big")
        if pos + 2 + size > len(payload):
            raise MediaError("truncated parameter set in decoder configuration record")
        units.append(bytes(payload[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    return tuple(units), pos


def parse_avcc(payload: bytes) -> AvcConfig:
    """Parse the payload of an ``avcC`` box (without its 8-byte box header)."""
    if len(payload) < 7 or payload[0] != 1:
        raise MediaError("not an AVCDecoderConfigurationRecord (version 1)")
    nal_length_size = (payload[4] & 0x03) + 1
    if nal_length_size == 3:
        raise MediaError("avcC: a NAL length size of 3 bytes is not allowed")
    sps, pos = _read_sized_units(payload, 6, payload[5] & 0x1F)
    if pos >= len(payload):
        raise MediaError("truncated avcC: no PPS count")
    pps, _ = _read_sized_units(payload, pos + 1, payload[pos])
    return AvcConfig(
        profile_idc=payload[1],
        profile_compatibility=payload[2],
        level_idc=payload[3],
        nal_length_size=nal_length_size,
        sps=sps,
        pps=pps,
    )


def parse_hvcc(payload: bytes) -> HevcConfig:
    """Parse the payload of an ``hvcC`` box (without its 8-byte box header)."""
    if len(payload) < 23 or payload[0] != 1:
        raise MediaError("not an HEVCDecoderConfigurationRecord (version 1)")
    by_type: dict[int, list[bytes]] = {32: [], 33: [], 34: []}
    pos = 23
    for _ in range(payload[22]):
        if pos + 3 > len(payload):
            raise MediaError("truncated hvcC array")
        nal_type = payload[pos] & 0x3F
        units, pos = _read_sized_units(payload, pos + 3, int.from_bytes(payload[pos + 1 : pos + 3]))
        by_type.setdefault(nal_type, []).extend(units)
    return HevcConfig(
        nal_length_size=(payload[21] & 0x03) + 1,
        vps=tuple(by_type[32]),
        sps=tuple(by_type[33]),
        pps=tuple(by_type[34]),
    )


def iter_nal_units(sample: bytes | memoryview, nal_length_size: int) -> Iterator[memoryview]:
    """The NAL units of one length-prefixed sample, without their prefixes."""
    view = memoryview(sample)
    pos, end = 0, len(view)
    while pos < end:
        if pos + nal_length_size > end:
            raise MediaError("truncated NAL length prefix")
        size = int.from_bytes(view[pos : pos + nal_length_size], "big")
        pos += nal_length_size
        if pos + size > end:
            raise MediaError("NAL unit overruns its sample")
        yield view[pos : pos + size]
        pos += size


def avcc_to_annexb(sample: bytes | memoryview, nal_length_size: int) -> bytes:
    """Replace the length prefixes of a sample's NAL units by 4-byte start codes."""
    return b"".join(START_CODE + bytes(nal) for nal in iter_nal_units(sample, nal_length_size))


def _nal_type(first_byte: int, codec: NalCodec) -> int:
    return (first_byte >> 1) & 0x3F if codec == "hevc" else first_byte & 0x1F


def _convert_in_place(
    buf: bytearray, start: int, end: int, config: NalConfig
) -> tuple[list[Chunk], bool]:
    """Annex B chunks of the sample at ``buf[start:end]``, and whether it holds an SPS.

    With 4-byte prefixes (what encoders write) the prefixes are overwritten by
    start codes in place and the sample stays one chunk; otherwise each NAL
    becomes a start code plus a view. In-band access unit delimiters are
    dropped because the caller writes its own.
    """
    size_len, codec = config.nal_length_size, config.codec
    aud_type = _HEVC_AUD_TYPE if codec == "hevc" else _AVC_AUD_TYPE
    sps_type = _HEVC_SPS_TYPE if codec == "hevc" else _AVC_SPS_TYPE
    view = memoryview(buf)
    nals: list[tuple[int, int, int]] = []
    pos = start
    while pos < end:
        size = int.from_bytes(buf[pos : pos + size_len], "big")
        body = pos + size_len
        if body + size > end or size == 0:
            raise MediaError("malformed length-prefixed NAL unit in a video sample")
        nals.append((pos, size, _nal_type(buf[body], codec)))
        pos = body + size
    has_sps = any(nal_type == sps_type for _, _, nal_type in nals)
    if size_len == 4 and all(nal_type != aud_type for _, _, nal_type in nals):
        for nal_pos, _, _ in nals:
            buf[nal_pos : nal_pos + 4] = START_CODE
        return [view[start:end]], has_sps
    chunks: list[Chunk] = []
    for nal_pos, size, nal_type in nals:
        if nal_type != aud_type:
            chunks += [START_CODE, view[nal_pos + size_len : nal_pos + size_len + size]]
    return chunks, has_sps


def annexb_access_units(
    data: bytes,
    sizes: npt.NDArray[np.integer],
    keyframes: npt.NDArray[np.bool_],
    config: NalConfig,
) -> list[list[Chunk]]:
    """Turn consecutive length-prefixed samples into Annex B access units.

    ``data`` holds the samples back to back, ``sizes`` their byte counts. Each
    access unit is returned as a list of chunks (join them to get its bytes):
    an access unit delimiter, then for key frames the configuration record's
    parameter sets (unless the sample carries its own SPS), then the sample's
    NAL units after start codes.
    """
    if int(sizes.sum()) != len(data):
        raise MediaError("video sample sizes do not add up to the data given")
    aud = HEVC_AUD if config.codec == "hevc" else AVC_AUD
    parameter_sets = b"".join(START_CODE + ps for ps in config.parameter_sets)
    buf = bytearray(data)
    ends = np.cumsum(sizes, dtype=np.int64).tolist()
    units: list[list[Chunk]] = []
    start = 0
    for end, key in zip(ends, keyframes.tolist(), strict=True):
        chunks, has_sps = _convert_in_place(buf, start, end, config)
        head: list[Chunk] = [aud, parameter_sets] if key and not has_sps else [aud]
        units.append(head + chunks)
        start = end
    return units


def split_annexb(stream: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream, without start codes or trailing zeros."""
    nals: list[bytes] = []
    pos = stream.find(b"\x00\x00\x01")
    while pos >= 0:
        nxt = stream.find(b"\x00\x00\x01", pos + 3)
        nals.append(stream[pos + 3 : nxt if nxt >= 0 else len(stream)].rstrip(b"\x00"))
        pos = nxt
    return nals

