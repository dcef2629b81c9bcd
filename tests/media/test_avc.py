"""avcC/hvcC parsing and the AVCC -> Annex B conversion."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvod.errors import MediaError
from openvod.media.avc import (
    AVC_AUD,
    START_CODE,
    AvcConfig,
    annexb_access_units,
    avcc_to_annexb,
    iter_nal_units,
    parse_avcc,
    parse_hvcc,
    plan_access_units,
    split_annexb,
)

# The avcC that ffmpeg's libx264 (preset ultrafast, 640x360) wrote into an MP4.
X264_AVCC = bytes.fromhex(
    "014d401effe10018674d401eeca05017fcb808800000030080000019078b16cb01000468ce0fc8"
)
SPS = bytes.fromhex("674d401eeca05017fcb808800000030080000019078b16cb")
PPS = bytes.fromhex("68ce0fc8")


def _escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes, as an encoder does."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _nal(nal_type: int, rbsp: bytes = b"") -> bytes:
    return bytes([0x60 | nal_type]) + _escape(rbsp + b"\x80")


def _avcc_sample(nals: list[bytes], length_size: int) -> bytes:
    return b"".join(len(nal).to_bytes(length_size, "big") + nal for nal in nals)


def test_parse_avcc_from_x264() -> None:
    config = parse_avcc(X264_AVCC)
    assert (config.profile_idc, config.profile_compatibility, config.level_idc) == (77, 0x40, 30)
    assert config.nal_length_size == 4
    assert config.sps == (SPS,) and config.pps == (PPS,)
    assert config.parameter_sets == (SPS, PPS)


def test_parse_avcc_with_two_byte_lengths_and_several_parameter_sets() -> None:
    sps2, pps2 = SPS[:-1] + b"\x01", b"\x68\x01"
    payload = (
        bytes([1, 100, 0, 40, 0xFD, 0xE2])
        + b"".join(struct.pack(">H", len(s)) + s for s in (SPS, sps2))
        + bytes([2])
        + b"".join(struct.pack(">H", len(p)) + p for p in (PPS, pps2))
        + bytes([0xFD, 0xF8, 0xF8, 0])  # high-profile trailer, ignored
    )
    config = parse_avcc(payload)
    assert config.nal_length_size == 2 and config.profile_idc == 100
    assert config.sps == (SPS, sps2) and config.pps == (PPS, pps2)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        X264_AVCC[:20],
        X264_AVCC[:-1],
        b"\x00" + X264_AVCC[1:],
        X264_AVCC[:4] + b"\xfe" + X264_AVCC[5:],
    ],
    ids=["empty", "truncated sps", "truncated pps", "version 0", "length size 3"],
)
def test_bad_avcc_is_a_media_error(payload: bytes) -> None:
    with pytest.raises(MediaError):
        parse_avcc(payload)


def test_parse_hvcc() -> None:
    vps, sps, pps = b"\x40\x01\x0c", b"\x42\x01\x01\x02", b"\x44\x01\xc1"
    arrays = b"".join(
        bytes([0x80 | nal_type]) + struct.pack(">HH", 1, len(unit)) + unit
        for nal_type, unit in ((32, vps), (33, sps), (34, pps))
    )
    payload = bytes([1]) + bytes(20) + bytes([0x0F, 3]) + arrays
    config = parse_hvcc(payload)
    assert config.nal_length_size == 4
    assert config.parameter_sets == (vps, sps, pps)
    with pytest.raises(MediaError):
        parse_hvcc(payload[:-2])


_rbsp = st.binary(min_size=0, max_size=100)
_nals = st.lists(st.builds(_nal, st.integers(1, 8), _rbsp), min_size=1, max_size=6)


@given(_nals, st.sampled_from([1, 2, 4]))
def test_avcc_to_annexb_round_trips(nals: list[bytes], length_size: int) -> None:
    sample = _avcc_sample(nals, length_size)
    assert [bytes(n) for n in iter_nal_units(sample, length_size)] == nals
    annexb = avcc_to_annexb(sample, length_size)
    assert annexb.startswith(START_CODE)
    assert split_annexb(annexb) == nals


# NAL types 1-9: slices, SPS (7), PPS (8) and in-band access unit delimiters (9).
_unit_nals = st.lists(st.builds(_nal, st.integers(1, 9), _rbsp), min_size=0, max_size=6)


@given(
    st.lists(st.tuples(_unit_nals, st.booleans()), min_size=1, max_size=6),
    st.sampled_from([1, 2, 4]),
)
def test_access_units_get_aud_and_parameter_sets(
    samples: list[tuple[list[bytes], bool]], length_size: int
) -> None:
    config = AvcConfig(77, 0x40, 30, length_size, (SPS,), (PPS,))
    data = b"".join(_avcc_sample(nals, length_size) for nals, _ in samples)
    sizes = np.array([len(_avcc_sample(nals, length_size)) for nals, _ in samples])
    keys = np.array([key for _, key in samples])
    units = annexb_access_units(data, sizes, keys, config)
    plan = plan_access_units(data, sizes, keys, config)
    assert plan.unit_sizes.tolist() == [len(unit) for unit in units]
    for unit, (nals, key) in zip(units, samples, strict=True):
        assert unit.startswith(AVC_AUD)
        in_band = [n for n in nals if n[0] & 0x1F != 9]  # in-band AUDs are replaced by ours
        inserted = [SPS, PPS] if key and not any(n[0] & 0x1F == 7 for n in nals) else []
        assert split_annexb(unit) == [AVC_AUD[4:], *inserted, *in_band]
        assert unit.count(START_CODE) == 1 + len(inserted) + len(in_band)


def test_access_units_are_written_where_the_caller_says() -> None:
    config = parse_avcc(X264_AVCC)
    samples = [[_nal(5, b"\x10" * 300)], [_nal(1, b"\x20" * 40), _nal(1, b"\x30" * 7)]]
    data = b"".join(_avcc_sample(nals, 4) for nals in samples)
    sizes = np.array([len(_avcc_sample(nals, 4)) for nals in samples])
    plan = plan_access_units(data, sizes, np.array([True, False]), config)
    dest = np.full(1000, 0xEE, dtype=np.uint8)
    offsets = np.array([10, 600])
    plan.write(dest, offsets)
    expected = annexb_access_units(data, sizes, np.array([True, False]), config)
    for offset, unit in zip(offsets.tolist(), expected, strict=True):
        assert dest[offset : offset + len(unit)].tobytes() == unit
    assert not np.any(dest[:10] != 0xEE) and dest[10 + len(expected[0]) : 600].min() == 0xEE


def test_access_unit_conversion_leaves_the_input_alone() -> None:
    data = _avcc_sample([_nal(5, b"\x00\x00\x00\x01")], 4)
    before = bytes(data)
    annexb_access_units(data, np.array([len(data)]), np.array([True]), parse_avcc(X264_AVCC))
    assert data == before


@pytest.mark.parametrize(
    "sample",
    [b"\x00\x00\x00\x05\x65\x88", b"\x00\x00\x00\x00", b"\x00\x00", b"\x00\x00\x00\x01\x65\x00"],
    ids=["overrun", "empty NAL", "short prefix", "prefix cut by the data end"],
)  # fmt: skip
def test_malformed_samples_are_media_errors(sample: bytes) -> None:
    with pytest.raises(MediaError):
        annexb_access_units(
            sample, np.array([len(sample)]), np.array([False]), parse_avcc(X264_AVCC)
        )
    # The same sample followed by a good one: the bad one must not read into it.
    good = _avcc_sample([_nal(1, bytes(20))], 4)
    with pytest.raises(MediaError):
        annexb_access_units(
            sample + good, np.array([len(sample), len(good)]), np.array([False, False]),
            parse_avcc(X264_AVCC),
        )  # fmt: skip


def test_sizes_must_cover_the_data() -> None:
    data = _avcc_sample([_nal(1)], 4)
    with pytest.raises(MediaError):
        annexb_access_units(
            data, np.array([len(data) + 1]), np.array([False]), parse_avcc(X264_AVCC)
        )
    with pytest.raises(MediaError):
        list(iter_nal_units(data[:-1], 4))
