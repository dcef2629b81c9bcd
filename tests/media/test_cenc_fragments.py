"""Encrypted fragments: saiz/saio really locate the senc entries; inputs are checked."""

from __future__ import annotations

import struct

import pytest

from openvod.errors import MediaError
from openvod.media.crypto import (
    TrackProtection,
    cbcs_protection,
    cenc_protection,
    encrypt_fragment,
    encrypt_sample,
    protect_sample_entry,
)
from openvod.media.crypto.cenc import sample_ivs, subsample_maps
from openvod.media.crypto.subsamples import CompactMaps
from openvod.media.mp4 import FragmentPlan, build_fragment, plan_fragment
from openvod.media.mp4.boxes import ContainerBox, RawBox, parse_box, read_box_header
from openvod.media.mp4.fragment_boxes import TrackRunBox
from openvod.media.mp4.protection_boxes import (
    SampleAuxiliaryInformationOffsetsBox,
    SampleAuxiliaryInformationSizesBox,
    SampleEncryptionBox,
)
from openvod.media.track import Track

from ._mp4_media import Media, get_media, synthetic_audio

KEY = bytes(range(16))
KID = bytes(range(16, 32))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """H.264 + AAC."""
    return get_media("faststart", tmp_path_factory)


def _fragment(
    media: Media, track: Track, protection: TrackProtection, *, extra: bool
) -> tuple[bytes, int]:
    extra_boxes = [RawBox(b"uuid", bytes(range(32)))] if extra else []
    plan = plan_fragment(track, 10, 60, 3, extra_traf_boxes=extra_boxes)
    data = b"".join(media.data[o : o + n] for o, n in plan.reads)
    encrypted = encrypt_fragment(plan, data, track, protection, 10)
    clear = build_fragment(plan, data)
    mdat_header = plan.prefix[-8:]
    assert mdat_header[4:] == b"mdat"
    # the moof grew by the encryption boxes; the mdat (header and size) did not
    assert len(encrypted) > len(clear)
    assert encrypted[-len(data) - 8 : -len(data)] == mdat_header
    return encrypted, plan.data_size_bytes


def _aux_entries(fragment: bytes, iv_size: int) -> tuple[list[bytes], SampleEncryptionBox]:
    """Each sample's auxiliary bytes read the way saiz + saio say, and the senc itself."""
    header = read_box_header(fragment, 0, len(fragment))
    assert header is not None
    moof = parse_box(fragment, header)
    assert isinstance(moof, ContainerBox)
    traf = moof.find(b"traf")
    assert isinstance(traf, ContainerBox)
    saiz, saio = traf.find(b"saiz"), traf.find(b"saio")
    senc, trun = traf.find(b"senc"), traf.find(b"trun")
    assert isinstance(saiz, SampleAuxiliaryInformationSizesBox)
    assert isinstance(saio, SampleAuxiliaryInformationOffsetsBox)
    assert isinstance(senc, SampleEncryptionBox) and isinstance(trun, TrackRunBox)
    assert [c.box_fourcc() for c in traf.children][-3:] == [b"saiz", b"saio", b"senc"]
    sizes = saiz.sample_info_sizes or [saiz.default_sample_info_size] * saiz.sample_count
    assert saiz.sample_count == trun.sample_count == len(sizes)
    (at,) = saio.offsets
    entries = []
    for size in sizes:
        entries.append(fragment[at : at + size])
        at += size
    # the mdat payload starts where trun says
    assert fragment[(trun.data_offset or 0) - 8 : (trun.data_offset or 0)][4:] == b"mdat"
    return entries, senc


def _entry(iv: bytes, subsamples: list[tuple[int, int]] | None) -> bytes:
    if subsamples is None:
        return iv
    return (
        iv
        + struct.pack(">H", len(subsamples))
        + b"".join(struct.pack(">HI", c, p) for c, p in subsamples)
    )


@pytest.mark.parametrize("extra", [False, True], ids=["plain", "with-uuid-box"])
@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_saio_and_saiz_locate_every_senc_entry(media: Media, scheme: str, extra: bool) -> None:
    video = media.movie.track("video")
    assert video is not None
    protection = (
        cenc_protection(KID, KEY, 1, iv_size=16)
        if scheme == "cenc"
        else cbcs_protection(KID, KEY, 1)
    )
    fragment, _ = _fragment(media, video, protection, extra=extra)
    entries, senc = _aux_entries(fragment, 16 if scheme == "cenc" else 0)
    assert senc.subsamples is not None
    assert entries == [_entry(iv, m) for iv, m in zip(senc.ivs, senc.subsamples, strict=True)]
    if scheme == "cenc":  # IVs are the sequential ones of samples 10..59
        assert senc.ivs == protection.iv_source.ivs(10, 50)  # type: ignore[union-attr]


def test_audio_fragments(media: Media) -> None:
    audio = media.movie.track("audio")
    assert audio is not None
    fragment, _ = _fragment(media, audio, cenc_protection(KID, KEY, 2), extra=False)
    entries, senc = _aux_entries(fragment, 8)
    assert senc.subsamples is None and entries == senc.ivs and len(set(senc.ivs)) == 50
    # cbcs audio: constant IV, no maps, so no auxiliary bytes: senc only, as Shaka writes it
    cbcs = encrypt_fragment(*_plan_and_data(media, audio), audio, cbcs_protection(KID, KEY, 2), 0)
    assert b"saiz" not in cbcs[:2000] and b"saio" not in cbcs[:2000] and b"senc" in cbcs[:2000]


def _plan_and_data(media: Media, track: Track) -> tuple[FragmentPlan, bytes]:
    plan = plan_fragment(track, 0, 20, 1)
    return plan, b"".join(media.data[o : o + n] for o, n in plan.reads)


def test_inputs_are_checked(media: Media) -> None:
    video = media.movie.track("video")
    assert video is not None
    plan = plan_fragment(video, 0, 5, 1)
    with pytest.raises(ValueError):
        encrypt_fragment(plan, b"short", video, cenc_protection(KID, KEY, 1), 0)
    with pytest.raises(MediaError):  # not length-prefixed NAL units
        encrypt_fragment(plan, bytes(plan.data_size_bytes), video, cenc_protection(KID, KEY, 1), 0)
    with pytest.raises(MediaError):
        protect_sample_entry(RawBox(b"wvtt", b"").to_bytes(), cenc_protection(KID, KEY, 1))
    with pytest.raises(ValueError):
        TrackProtection("cenc", KID, KEY, iv_size=12)
    with pytest.raises(ValueError):
        TrackProtection("cbcs", KID, KEY, iv_size=0, constant_iv=bytes(8))
    with pytest.raises(ValueError):
        cenc_protection(KID[:8], KEY, 1)


def test_synthetic_audio_round_trip() -> None:
    track = synthetic_audio(4.0)
    plan = plan_fragment(track, 0, 30, 1)
    data = bytes(range(256)) * (plan.data_size_bytes // 256 + 1)
    data = data[: plan.data_size_bytes]
    protection = cenc_protection(KID, KEY, track.track_id)
    once = encrypt_fragment(plan, data, track, protection, 0)
    assert once == encrypt_fragment(plan, data, track, protection, 0)  # deterministic
    assert once[-len(data) :] != data
    shifted = encrypt_fragment(plan, data, track, protection, 1)  # other sample numbers
    assert shifted[-len(data) :] != once[-len(data) :]


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
@pytest.mark.parametrize("kind", ["video", "audio"])
def test_fragment_is_each_sample_encrypted_alone(media: Media, scheme: str, kind: str) -> None:
    """The batched fragment path (kept maps or not) gives the bytes of one cipher per sample."""
    track = media.movie.track(kind)
    assert track is not None
    protection = (cenc_protection if scheme == "cenc" else cbcs_protection)(KID, KEY, 1)
    plan = plan_fragment(track, 10, 60, 3)
    data = b"".join(media.data[o : o + n] for o, n in plan.reads)
    sizes = track.samples.size[10:60].tolist()
    fresh = encrypt_fragment(plan, data, track, protection, 10)
    maps = subsample_maps(track, protection, data, sizes)
    assert (maps is None) == (kind == "audio")
    kept = None if maps is None else CompactMaps.of(maps).maps()
    assert kept == maps
    assert encrypt_fragment(plan, data, track, protection, 10, maps=kept) == fresh
    expected, at = bytearray(), 0
    ivs = sample_ivs(protection, 10, len(sizes))
    for index, (size, iv) in enumerate(zip(sizes, ivs, strict=True)):
        sample_map = None if maps is None else maps[index]
        key_iv = iv if scheme == "cenc" else protection.constant_iv
        expected += encrypt_sample(protection.scheme, KEY, key_iv, data[at : at + size],
                                   sample_map, protection.pattern(kind))  # fmt: skip
        at += size
    assert fresh[-len(data) :] == expected and expected != data
    if maps is not None:
        with pytest.raises(ValueError):  # maps of other samples
            encrypt_fragment(plan, data, track, protection, 10, maps=maps[1:])


def test_compact_maps_round_trip() -> None:
    maps = [[(5, 16), (3, 0)], [], [(65535, 0), (10, 1 << 20)]]
    compact = CompactMaps.of(maps)
    assert compact.maps() == maps and compact.nbytes == 3 * 4 + 4 * 2 * 4
    assert CompactMaps.of([]).maps() == []
