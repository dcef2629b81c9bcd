"""PIFF 1.1 fragments: the same ciphertext as DASH 'cenc', entries in a 'uuid' box saio finds."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Literal

import pytest

from openvod.errors import MediaError
from openvod.media.crypto import cbcs_protection, cenc_protection, encrypt_fragment
from openvod.media.crypto.piff import (
    PIFF_SAMPLE_ENCRYPTION_UUID,
    PiffSampleEncryptionBox,
    encrypt_piff_fragment,
)
from openvod.media.mp4 import plan_fragment
from openvod.media.mp4.boxes import ContainerBox, RawBox, parse_box, read_box_header
from openvod.media.mp4.protection_boxes import (
    SampleAuxiliaryInformationOffsetsBox,
    SampleAuxiliaryInformationSizesBox,
    SampleEncryptionBox,
)
from openvod.media.protection_signaling import add_smooth_protection
from openvod.media.track import Track

from ._mp4_media import Media, get_media

KEY = bytes(range(16))
KID = bytes(range(16, 32))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """H.264 + AAC."""
    return get_media("faststart", tmp_path_factory)


def _traf(fragment: bytes) -> ContainerBox:
    header = read_box_header(fragment, 0, len(fragment))
    assert header is not None
    moof = parse_box(fragment, header)
    assert isinstance(moof, ContainerBox)
    traf = moof.find(b"traf")
    assert isinstance(traf, ContainerBox)
    return traf


def _encrypted(media: Media, track: Track) -> tuple[bytes, bytes]:
    """(PIFF fragment, DASH 'cenc' fragment) of the same samples, with a tfxd-like uuid."""
    tfxd = RawBox(b"uuid", bytes(range(32)))
    plan = plan_fragment(track, 10, 60, 3, extra_traf_boxes=[tfxd])
    data = b"".join(media.data[o : o + n] for o, n in plan.reads)
    protection = cenc_protection(KID, KEY, track.track_id)
    piff = encrypt_piff_fragment(plan, data, track, protection, 10)
    plan = plan_fragment(track, 10, 60, 3, extra_traf_boxes=[tfxd])
    return piff, encrypt_fragment(plan, data, track, protection, 10)


@pytest.mark.parametrize("kind", ["video", "audio"])
def test_piff_entries_are_the_senc_ones_and_saio_finds_them(
    media: Media, kind: Literal["video", "audio"]
) -> None:
    track = media.movie.track(kind)
    assert track is not None
    piff, dash = _encrypted(media, track)
    traf, dash_traf = _traf(piff), _traf(dash)
    kinds = [c.box_fourcc() for c in traf.children]
    assert kinds[-3:] == [b"saiz", b"saio", b"uuid"] and b"senc" not in kinds
    box = traf.children[-1]
    assert isinstance(box, RawBox) and box.payload[:16] == PIFF_SAMPLE_ENCRYPTION_UUID
    entries = PiffSampleEncryptionBox.parse_with_iv_size(box.payload, 8).entries
    senc = dash_traf.find(b"senc")
    assert isinstance(senc, SampleEncryptionBox)
    assert entries.ivs == senc.ivs and entries.subsamples == senc.subsamples
    assert (entries.subsamples is not None) == (kind == "video")
    assert box.payload[16:20] == (b"\0\0\0\x02" if kind == "video" else bytes(4))
    # The samples are the same ciphertext as DASH's.
    mdat = dash.index(b"mdat") - 4  # the moofs differ; the mdat boxes do not
    assert piff[len(piff) - (len(dash) - mdat) :] == dash[mdat:]
    assert piff[-(len(dash) - mdat) + 4 :][:4] == b"mdat"
    # saiz + saio locate each entry inside the 'uuid' box.
    saiz, saio = traf.find(b"saiz"), traf.find(b"saio")
    assert isinstance(saiz, SampleAuxiliaryInformationSizesBox)
    assert isinstance(saio, SampleAuxiliaryInformationOffsetsBox)
    sizes = saiz.sample_info_sizes or [saiz.default_sample_info_size] * saiz.sample_count
    at, raw = saio.offsets[0], bytearray()
    for size in sizes:
        raw += piff[at : at + size]
        at += size
    assert bytes(raw) == box.payload[24:]


def test_piff_box_round_trips_and_rejects_what_it_does_not_read() -> None:
    box = PiffSampleEncryptionBox(SampleEncryptionBox([bytes(8), b"\1" * 8], [[(5, 16)], []]))
    data = box.to_bytes()
    assert data[4:8] == b"uuid" and box.size() == len(data)
    parsed = PiffSampleEncryptionBox.parse_payload(memoryview(data[8:]))
    assert parsed == box
    with pytest.raises(MediaError):
        PiffSampleEncryptionBox.parse_payload(memoryview(bytes(16) + data[24:]))
    overriding = bytearray(data[8:])
    overriding[19] |= 0x1  # AlgorithmID/IV size/KID override
    with pytest.raises(MediaError):
        PiffSampleEncryptionBox.parse_payload(memoryview(bytes(overriding)))


def test_piff_is_cenc_with_8_byte_ivs_only(media: Media) -> None:
    audio = media.movie.track("audio")
    assert audio is not None
    plan = plan_fragment(audio, 0, 5, 1)
    data = b"".join(media.data[o : o + n] for o, n in plan.reads)
    for protection in (
        cbcs_protection(KID, KEY, 2),
        cenc_protection(KID, KEY, 2, iv_size=16),
    ):
        with pytest.raises(ValueError):
            encrypt_piff_fragment(plan, data, audio, protection, 0)


def test_smooth_protection_element_is_the_last_child() -> None:
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<SmoothStreamingMedia MajorVersion="2">\n'
        '  <StreamIndex Type="video"/>\n</SmoothStreamingMedia>\n'
    )
    system = uuid.UUID("9a04f079-9840-4286-ab92-e65be0885f95")
    root = ET.fromstring(add_smooth_protection(manifest, system, b"\x01\x02"))
    assert [c.tag for c in root] == ["StreamIndex", "Protection"]
    (header,) = root.findall("Protection/ProtectionHeader")
    assert header.get("SystemID") == str(system) and header.text == "AQI="
