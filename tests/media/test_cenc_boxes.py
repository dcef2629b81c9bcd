"""Common Encryption boxes: every one writes, reads back and sizes itself; PSSH contents."""

from __future__ import annotations

import base64
import uuid
import xml.etree.ElementTree as ET

import pytest

from openvod.media.crypto.pssh import (
    COMMON_SYSTEM_ID,
    PLAYREADY_SYSTEM_ID,
    WIDEVINE_SYSTEM_ID,
    common_pssh,
    parse_playready_object,
    playready_checksum,
    playready_kid,
    playready_pssh,
    widevine_pssh,
    widevine_pssh_data,
)
from openvod.media.mp4 import Box, parse_boxes
from openvod.media.mp4.boxes import MovieFragmentBox, iter_boxes
from openvod.media.mp4.fragment_boxes import MovieFragmentHeaderBox
from openvod.media.mp4.protection_boxes import (
    OriginalFormatBox,
    ProtectionSchemeInfoBox,
    ProtectionSystemSpecificHeaderBox,
    SampleAuxiliaryInformationOffsetsBox,
    SampleAuxiliaryInformationSizesBox,
    SampleEncryptionBox,
    SchemeInformationBox,
    SchemeTypeBox,
    TrackEncryptionBox,
)

KID = bytes.fromhex("00112233445566778899aabbccddeeff")
KID2 = bytes(range(16))
TENC_CENC = TrackEncryptionBox(KID, 8)
TENC_CBCS = TrackEncryptionBox(KID, 0, 1, 1, 9, bytes(range(16)), version=1)

PROTECTION_EXAMPLES: dict[bytes, list[Box]] = {
    b"frma": [OriginalFormatBox("avc1"), OriginalFormatBox("mp4a")],
    b"schm": [SchemeTypeBox("cenc"), SchemeTypeBox("cbcs"), SchemeTypeBox("cenc", 0x10000, "u")],
    b"schi": [SchemeInformationBox([TENC_CENC])],
    b"sinf": [
        ProtectionSchemeInfoBox(
            [OriginalFormatBox("hvc1"), SchemeTypeBox("cbcs"), SchemeInformationBox([TENC_CBCS])]
        )
    ],
    b"tenc": [
        TENC_CENC,
        TrackEncryptionBox(KID, 16),
        TENC_CBCS,
        TrackEncryptionBox(KID, 0, 1, 0, 0, bytes(16), version=1),  # cbcs audio: whole blocks
        TrackEncryptionBox(KID, 0, 0),  # not protected
    ],
    b"senc": [
        SampleEncryptionBox([bytes(8), b"\x01" * 8], [[(5, 32)], [(100, 0), (7, 1600)]]),
        SampleEncryptionBox([b"\x02" * 16], [[(9, 48)]]),
        SampleEncryptionBox([b"", b""], [[(635, 3299)], [(9, 1164)]]),  # cbcs video
        SampleEncryptionBox([b"\x03" * 8] * 3),  # audio
        SampleEncryptionBox([b"\x04" * 16] * 2),
        SampleEncryptionBox([]),
    ],
    b"saiz": [
        SampleAuxiliaryInformationSizesBox(8, 40),
        SampleAuxiliaryInformationSizesBox(0, 3, [16, 22, 16]),
        SampleAuxiliaryInformationSizesBox(0, 2, [8, 14], "cenc", 0),
    ],
    b"saio": [
        SampleAuxiliaryInformationOffsetsBox([945]),
        SampleAuxiliaryInformationOffsetsBox([1 << 33]),
        SampleAuxiliaryInformationOffsetsBox([1, 2], "cbcs", 7),
    ],
    b"pssh": [
        common_pssh([KID, KID2]),
        widevine_pssh([KID]),
        playready_pssh([KID], license_url="https://lic.example/pr?a=1&b=2"),
        ProtectionSystemSpecificHeaderBox(WIDEVINE_SYSTEM_ID, b"\x12\x10" + KID, [KID]),
    ],
}


@pytest.mark.parametrize(
    "box",
    [b for boxes in PROTECTION_EXAMPLES.values() for b in boxes],
    ids=lambda b: repr(b.box_fourcc()),
)
def test_box_round_trip(box: Box) -> None:
    data = box.to_bytes()
    assert box.size() == len(data)
    (parsed,) = parse_boxes(data)
    assert type(parsed) is type(box)
    assert parsed == box
    assert parsed.to_bytes() == data


def test_tenc_layouts() -> None:
    # version 0: reserved, reserved, isProtected, IV size, KID
    assert TENC_CENC.to_bytes()[8:] == bytes([0, 0, 0, 0, 0, 0, 1, 8]) + KID
    # version 1: pattern byte 0x19, IV size 0, then the constant IV with its size
    assert TENC_CBCS.to_bytes()[8:] == bytes([1, 0, 0, 0, 0, 0x19, 1, 0]) + KID + b"\x10" + bytes(
        range(16)
    )


def test_senc_with_a_known_iv_size() -> None:
    box = SampleEncryptionBox([bytes(16), bytes(16)], [[(1, 16)], [(2, 32)]])
    payload = box.to_bytes()[8:]
    assert SampleEncryptionBox.parse_with_iv_size(payload, 16) == box
    assert box.version_and_flags() == (0, 2)
    assert box.sample_info_sizes() == [24, 24]


def test_saio_points_into_a_moof() -> None:
    senc = SampleEncryptionBox([bytes(8)], [[(4, 16)]])
    saio = SampleAuxiliaryInformationOffsetsBox([0])
    moof = MovieFragmentBox([MovieFragmentHeaderBox(1), saio, senc])
    data = moof.to_bytes()
    senc_at = next(h for h in iter_boxes(data, 8, len(data)) if h.fourcc == b"senc").offset
    saio.offsets = [senc_at + 16]
    assert moof.to_bytes()[saio.offsets[0] : saio.offsets[0] + 8] == bytes(8)


def test_system_ids() -> None:
    assert uuid.UUID("1077efec-c0b2-4d02-ace3-3c1e52e2fb4b").bytes == COMMON_SYSTEM_ID
    assert WIDEVINE_SYSTEM_ID.hex() == "edef8ba979d64acea3c827dcd51d21ed"
    assert PLAYREADY_SYSTEM_ID.hex() == "9a04f07998404286ab92e65be0885f95"


def test_common_pssh_is_version_1_with_kids_and_no_data() -> None:
    data = common_pssh([KID]).to_bytes()
    assert data[8:12] == b"\x01\x00\x00\x00"
    assert data[12:28] == COMMON_SYSTEM_ID
    assert data[28:] == b"\x00\x00\x00\x01" + KID + b"\x00\x00\x00\x00"


def _protobuf_fields(data: bytes) -> list[tuple[int, int, bytes | int]]:
    """A small independent protobuf decoder: (field, wire type, value)."""

    def varint(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = data[pos]
            value |= (byte & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if not byte & 0x80:
                return value, pos

    out: list[tuple[int, int, bytes | int]] = []
    pos = 0
    while pos < len(data):
        key, pos = varint(pos)
        if key & 7 == 2:
            length, pos = varint(pos)
            out.append((key >> 3, 2, data[pos : pos + length]))
            pos += length
        else:
            value, pos = varint(pos)
            out.append((key >> 3, 0, value))
    return out


def test_widevine_pssh_data_is_a_protobuf_with_the_key_ids() -> None:
    fields = _protobuf_fields(widevine_pssh_data([KID, KID2], scheme="cbcs", content_id=b"c1"))
    assert fields == [
        (2, 2, KID),
        (2, 2, KID2),
        (4, 2, b"c1"),
        (9, 0, int.from_bytes(b"cbcs", "big")),
    ]


def test_playready_object_carries_a_wrm_header_with_the_guid_ordered_kid() -> None:
    box = playready_pssh([KID], license_url="https://lic.example/pr?a=1&b=2")
    assert box.key_ids is None and box.system_id == PLAYREADY_SYSTEM_ID
    data = box.data
    assert int.from_bytes(data[:4], "little") == len(data)
    assert int.from_bytes(data[4:6], "little") == 1  # one record
    assert int.from_bytes(data[6:8], "little") == 1  # rights management header
    xml = parse_playready_object(data)
    assert data[10:].decode("utf-16-le") == xml
    root = ET.fromstring(xml)
    ns = {"pr": "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader"}
    assert root.get("version") == "4.0.0.0"
    kid = root.find("pr:DATA/pr:KID", ns)
    assert kid is not None and kid.text is not None
    # GUID byte order: the first three groups little-endian.
    assert base64.b64decode(kid.text) == bytes.fromhex("33221100554477668899aabbccddeeff")
    assert root.findtext("pr:DATA/pr:PROTECTINFO/pr:ALGID", namespaces=ns) == "AESCTR"
    assert root.findtext("pr:DATA/pr:LA_URL", namespaces=ns) == "https://lic.example/pr?a=1&b=2"


def test_playready_cbcs_uses_header_4_3() -> None:
    root = ET.fromstring(parse_playready_object(playready_pssh([KID, KID2], scheme="cbcs").data))
    assert root.get("version") == "4.3.0.0"
    ns = {"pr": "http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader"}
    kids = root.findall("pr:DATA/pr:PROTECTINFO/pr:KIDS/pr:KID", ns)
    assert [k.get("ALGID") for k in kids] == ["AESCBC", "AESCBC"]
    assert [k.get("VALUE") for k in kids] == [playready_kid(KID), playready_kid(KID2)]
    assert root.find("pr:DATA/pr:LA_URL", ns) is None


def test_pssh_refuses_bad_kids() -> None:
    with pytest.raises(ValueError):
        common_pssh([b"short"])
    with pytest.raises(ValueError):
        widevine_pssh([])


def test_playready_checksum_known_answer() -> None:
    # KID 00112233-..., key 000102...0f: the CHECKSUM Shaka Packager writes for them.
    key = bytes(range(16))
    assert playready_checksum(KID, key) == "KpOvXRLUXfs="
    xml = parse_playready_object(playready_pssh([KID], content_key=key).data)
    assert "<KID>MyIRAFVEd2aImaq7zN3u/w==</KID><CHECKSUM>KpOvXRLUXfs=</CHECKSUM>" in xml
