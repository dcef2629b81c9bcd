"""H.264 (and HEVC) bitstream helpers: decoder configuration records and Annex B.

MP4 stores NAL units with a big-endian length prefix ("AVCC" framing) and the
parameter sets in the sample entry (``avcC``/``hvcC``); MPEG-TS carries an
Annex B byte stream, where NAL units follow start codes, every access unit
begins with an access unit delimiter and the parameter sets travel in-band
before every random access point. This module converts the former into the
latter: :func:`plan_access_units` finds every NAL unit of a segment's samples
with a few array operations and sizes the access units, and
:meth:`AnnexbAccessUnits.write` writes them where the caller's buffer wants
them, one slice copy per sample (length prefixes become start codes in place).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

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
_BIG_ENDIAN = {size: np.dtype(f">u{size}") for size in (1, 2, 4, 8)}

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


@dataclass(frozen=True)
class NalTable:
    """The NAL units of consecutive length-prefixed samples, one array entry per unit.

    Entries are in stream order: sample by sample, then by position.
    """

    sample: npt.NDArray[np.int64]  # index of the sample holding the unit
    position: npt.NDArray[np.int64]  # offset of the unit's length prefix in the data
    size: npt.NDArray[np.int64]  # bytes of the unit, its prefix excluded
    nal_type: npt.NDArray[np.integer]


def words_at_every_byte(data: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.integer]:
    """A view of ``data`` whose item ``i`` is the big-endian integer in ``data[i:i + size]``.

    Reading or writing it at an array of offsets reads or writes that many
    (unaligned) integers in one array operation.
    """
    count = max(data.size - size + 1, 0)
    return np.ndarray((count,), dtype=_BIG_ENDIAN[size], buffer=data, strides=(1,))


def scan_nal_units(
    data: npt.NDArray[np.uint8],
    sample_starts: npt.NDArray[np.int64],
    sample_ends: npt.NDArray[np.int64],
    nal_length_size: int,
    codec: NalCodec,
) -> NalTable:
    """Find the NAL units of the samples lying at ``data[sample_starts[i]:sample_ends[i]]``.

    All samples are walked together: each round reads the length prefix at
    every sample's current position and jumps past that unit, so the number of
    rounds is the largest NAL count of one sample, not the number of units.
    """
    if nal_length_size not in (1, 2, 4):
        raise MediaError(f"unsupported NAL length size {nal_length_size}")
    prefixes = words_at_every_byte(data, nal_length_size)
    found: list[tuple[npt.NDArray[np.int64], ...]] = []
    active = (sample_ends > sample_starts).nonzero()[0]
    at = sample_starts[active]
    while at.size:
        try:
            size = prefixes[at].astype(np.int64)
        except IndexError:  # a prefix cut by the end of the data
            raise MediaError("truncated NAL length prefix in a video sample") from None
        after = at + size
        after += nal_length_size
        end = sample_ends[active]
        if (after > end).any():
            raise MediaError("NAL unit overruns its video sample")
        found.append((active, at, size))
        more = after < end
        active, at = active[more], after[more]
    if len(found) == 1:
        sample, position, size = found[0]
    elif found:  # several rounds: put units back in stream order
        sample, position, size = (np.concatenate(column) for column in zip(*found, strict=True))
        order = position.argsort()
        sample, position, size = sample[order], position[order], size[order]
    else:
        sample = position = size = np.empty(0, dtype=np.int64)
    if not size.all():
        raise MediaError("empty NAL unit in a video sample")
    first_bytes = data[position + nal_length_size]
    nal_type = (first_bytes >> 1) & 0x3F if codec == "hevc" else first_bytes & 0x1F
    return NalTable(sample, position, size, nal_type)


def _write_at(dest: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], value: bytes) -> None:
    """Write ``value`` at every offset in ``dest``.

    Values of up to 8 bytes take at most two array assignments of (unaligned)
    integers; longer ones (parameter sets, on the few key frames) a slice copy each.
    """
    size = len(value)
    if not size or not offsets.size:
        return
    if size > 8:
        out = dest.data
        for at in offsets.tolist():
            out[at : at + size] = value
        return
    # One integer for sizes 1, 2, 4 and 8, else two overlapping ones.
    width = size if size in (1, 2, 4, 8) else next(w for w in (1, 2, 4, 8) if 2 * w >= size)
    words = words_at_every_byte(dest, width)
    words[offsets] = int.from_bytes(value[:width], "big")
    if size > width:
        words[offsets + (size - width)] = int.from_bytes(value[size - width :], "big")


class EsCopies(NamedTuple):
    """Elementary-stream bytes still to be put in a buffer whose framing is written.

    Piece ``i`` is ``sizes[i]`` bytes of the source data from ``src_offsets[i]``,
    copied to ``dest_offsets[i]``; then a 4-byte start code goes at each of
    ``start_codes`` (over the length prefixes copied with the samples).
    """

    dest_offsets: npt.NDArray[np.int64]
    src_offsets: npt.NDArray[np.int64]
    sizes: npt.NDArray[np.int64]
    start_codes: npt.NDArray[np.int64]


@dataclass(frozen=True)
class AnnexbAccessUnits:
    """Consecutive MP4 video samples planned as Annex B access units, written on demand.

    Each access unit is an access unit delimiter, then on key frames whose
    sample carries no SPS the configuration record's parameter sets, then the
    sample's NAL units after 4-byte start codes. In-band delimiters are dropped
    because the unit starts with its own. ``unit_sizes`` are known before any
    byte is written, so a caller can lay the units out in its own buffer and
    let :meth:`write` fill them in.
    """

    unit_sizes: npt.NDArray[np.int64]
    head_sizes: npt.NDArray[np.int64]  # delimiter and parameter sets before the sample's NALs
    with_parameter_sets: npt.NDArray[np.bool_]
    delimiter: bytes
    parameter_sets: bytes  # in Annex B, start codes included
    data: bytes | memoryview  # the samples back to back
    sample_starts: npt.NDArray[np.int64]
    sample_sizes: npt.NDArray[np.int64]
    nals: NalTable  # the NAL units kept (no delimiters)
    nal_offsets: npt.NDArray[np.int64]  # of each kept unit's start code, after its unit's head
    # With 4-byte prefixes and no in-band delimiter (what encoders write) each sample
    # is copied whole and its prefixes become start codes in place; otherwise the
    # NAL units are copied one by one.
    in_place: bool
    nal_length_size: int

    def write(self, dest: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]) -> None:
        """Write access unit ``i`` to ``dest[offsets[i]:offsets[i] + unit_sizes[i]]``."""
        copies = self.write_framing(dest, offsets)
        copy_ranges(dest, copies.dest_offsets, self.data, copies.src_offsets, copies.sizes)
        _write_at(dest, copies.start_codes, START_CODE)

    def write_framing(
        self, dest: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64]
    ) -> EsCopies:
        """Write what :meth:`write` adds to the samples (delimiters, parameter sets and, when
        NAL units are copied one by one, their start codes) and return what is left to do:
        the sample bytes to copy and the start codes to write over their length prefixes."""
        _write_at(dest, offsets, self.delimiter)
        keyed = offsets[self.with_parameter_sets] + len(self.delimiter)
        _write_at(dest, keyed, self.parameter_sets)
        body_at = offsets + self.head_sizes
        start_codes_at = body_at[self.nals.sample] + self.nal_offsets
        if self.in_place:
            return EsCopies(body_at, self.sample_starts, self.sample_sizes, start_codes_at)
        _write_at(dest, start_codes_at, START_CODE)
        bodies = self.nals.position + self.nal_length_size
        no_start_codes = np.empty(0, dtype=np.int64)
        return EsCopies(start_codes_at + len(START_CODE), bodies, self.nals.size, no_start_codes)


def copy_ranges(
    dest: npt.NDArray[np.uint8],
    dest_offsets: npt.NDArray[np.int64],
    src: bytes | memoryview,
    src_offsets: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
) -> None:
    """Copy ``sizes[i]`` bytes from ``src[src_offsets[i]:]`` to ``dest[dest_offsets[i]:]``."""
    out, view = dest.data, memoryview(src)
    for at, start, size in zip(
        dest_offsets.tolist(), src_offsets.tolist(), sizes.tolist(), strict=True
    ):
        out[at : at + size] = view[start : start + size]


def plan_access_units(
    data: bytes | memoryview,
    sizes: npt.NDArray[np.integer],
    keyframes: npt.NDArray[np.bool_],
    config: NalConfig,
) -> AnnexbAccessUnits:
    """Plan the Annex B access units of consecutive length-prefixed samples.

    ``data`` holds the samples back to back, ``sizes`` their byte counts.
    Raises :class:`MediaError` if the sizes do not cover the data or a sample's
    NAL units are malformed.
    """
    samples = np.frombuffer(data, dtype=np.uint8)
    sample_sizes = sizes.astype(np.int64)
    sample_ends = sample_sizes.cumsum()
    if (int(sample_ends[-1]) if sample_ends.size else 0) != samples.size:
        raise MediaError("video sample sizes do not add up to the data given")
    sample_starts = sample_ends - sample_sizes
    length_size, hevc = config.nal_length_size, config.codec == "hevc"
    nals = scan_nal_units(samples, sample_starts, sample_ends, length_size, config.codec)
    has_sps = np.zeros(sample_sizes.size, dtype=np.bool_)
    has_sps[nals.sample[nals.nal_type == (_HEVC_SPS_TYPE if hevc else _AVC_SPS_TYPE)]] = True
    is_delimiter = nals.nal_type == (_HEVC_AUD_TYPE if hevc else _AVC_AUD_TYPE)
    in_place = length_size == len(START_CODE) and not is_delimiter.any()
    if in_place:
        body_sizes = sample_sizes
        nal_offsets = nals.position - sample_starts[nals.sample]
    else:
        keep = ~is_delimiter
        nals = NalTable(nals.sample[keep], nals.position[keep], nals.size[keep],
                        nals.nal_type[keep])  # fmt: skip
        body_sizes, nal_offsets = _rebuilt_bodies(nals, sample_sizes.size)
    parameter_sets = b"".join(START_CODE + ps for ps in config.parameter_sets)
    with_parameter_sets = keyframes & ~has_sps if parameter_sets else np.zeros_like(has_sps)
    delimiter = HEVC_AUD if hevc else AVC_AUD
    head_sizes = len(delimiter) + with_parameter_sets * len(parameter_sets)
    return AnnexbAccessUnits(
        unit_sizes=head_sizes + body_sizes,
        head_sizes=head_sizes,
        with_parameter_sets=with_parameter_sets,
        delimiter=delimiter,
        parameter_sets=parameter_sets,
        data=data,
        sample_starts=sample_starts,
        sample_sizes=sample_sizes,
        nals=nals,
        nal_offsets=nal_offsets,
        in_place=in_place,
        nal_length_size=length_size,
    )


def _rebuilt_bodies(
    nals: NalTable, sample_count: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Annex B bytes of each sample's NAL units, and each unit's offset among them."""
    offsets = np.zeros(nals.size.size + 1, dtype=np.int64)  # Annex B bytes before each unit
    np.cumsum(len(START_CODE) + nals.size, out=offsets[1:])
    firsts = np.searchsorted(nals.sample, np.arange(sample_count + 1))  # each sample's first unit
    bounds = offsets[firsts]
    return np.diff(bounds), offsets[:-1] - bounds[nals.sample]


def annexb_access_units(
    data: bytes | memoryview,
    sizes: npt.NDArray[np.integer],
    keyframes: npt.NDArray[np.bool_],
    config: NalConfig,
) -> list[bytes]:
    """The Annex B bytes of each access unit (see :class:`AnnexbAccessUnits`)."""
    units = plan_access_units(data, sizes, keyframes, config)
    ends = np.cumsum(units.unit_sizes)
    starts = ends - units.unit_sizes
    dest = np.empty(int(ends[-1]) if ends.size else 0, dtype=np.uint8)
    units.write(dest, starts)
    blob = dest.tobytes()
    return [blob[start:end] for start, end in zip(starts.tolist(), ends.tolist(), strict=True)]


def split_annexb(stream: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream, without start codes or trailing zeros."""
    nals: list[bytes] = []
    pos = stream.find(b"\x00\x00\x01")
    while pos >= 0:
        nxt = stream.find(b"\x00\x00\x01", pos + 3)
        nals.append(stream[pos + 3 : nxt if nxt >= 0 else len(stream)].rstrip(b"\x00"))
        pos = nxt
    return nals

