"""Common Encryption packaging: protected init segments and encrypted fragments.

:func:`build_protected_init_segment` is :func:`~openvod.media.mp4.writer.build_init_segment`
with each protected track's sample entry renamed ('avc1' → 'encv', 'mp4a' →
'enca') and given a 'sinf' (frma, schm, schi/tenc), and the 'pssh' boxes
in the 'moov'.

:func:`encrypt_fragment` takes what :func:`~openvod.media.mp4.writer.build_fragment`
takes (the :class:`FragmentPlan` and the sample bytes) plus the track and
its protection: it encrypts the samples (same sizes, so the 'mdat' does not
move), adds 'saiz', 'saio' and 'senc' to the 'traf' after the 'trun', points
'saio' at the first 'senc' entry (relative to the 'moof') and the 'trun' at
the 'mdat' payload. The clear path stays untouched: nothing here runs for
clear content.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from openvod.errors import MediaError
from openvod.media import avc
from openvod.media.crypto.protection import TrackProtection
from openvod.media.crypto.sample_cipher import cbcs_crypt_sample, cenc_crypt_samples
from openvod.media.crypto.subsamples import NalSubsampleMapper
from openvod.media.mp4.boxes import (
    Box,
    MovieFragmentBox,
    RawBox,
    TrackFragmentBox,
    header_size_for,
    parse_box,
    read_box_header,
)
from openvod.media.mp4.fragment_boxes import TrackFragmentHeaderBox, TrackRunBox
from openvod.media.mp4.protection_boxes import (
    OriginalFormatBox,
    ProtectionSchemeInfoBox,
    SampleAuxiliaryInformationOffsetsBox,
    SampleAuxiliaryInformationSizesBox,
    SampleEncryptionBox,
    SchemeInformationBox,
    SchemeTypeBox,
    Subsample,
)
from openvod.media.mp4.writer import DEFAULT_BRANDS, FragmentPlan, build_init_segment
from openvod.media.track import Track

VIDEO_ENTRIES = frozenset({b"avc1", b"avc3", b"hvc1", b"hev1"})
AUDIO_ENTRIES = frozenset({b"mp4a", b"ac-3", b"ec-3"})
_NAL_CODECS: dict[str, avc.NalCodec] = {"avc1": "avc", "avc3": "avc", "hvc1": "hevc",
                                        "hev1": "hevc"}  # fmt: skip


def protection_scheme_info(original_format: str, protection: TrackProtection, kind: str) -> Box:
    """The 'sinf' of a protected sample entry."""
    return ProtectionSchemeInfoBox(
        [
            OriginalFormatBox(original_format),
            SchemeTypeBox(protection.scheme),
            SchemeInformationBox([protection.tenc(kind)]),
        ]
    )


def protect_sample_entry(entry: bytes, protection: TrackProtection) -> bytes:
    """Rewrite one sample entry box as 'encv'/'enca' with a 'sinf' appended to its children."""
    header = read_box_header(entry, 0, len(entry))
    if header is None or header.end != len(entry):
        raise MediaError("not exactly one sample entry box")
    if header.fourcc in VIDEO_ENTRIES:
        kind, new_type = "video", b"encv"
    elif header.fourcc in AUDIO_ENTRIES:
        kind, new_type = "audio", b"enca"
    else:
        raise MediaError(f"cannot protect '{header.name}' sample entries")
    sinf = protection_scheme_info(header.name, protection, kind)
    payload = entry[header.payload_offset :] + sinf.to_bytes()
    return RawBox(new_type, payload).to_bytes()


def build_protected_init_segment(
    tracks: Sequence[Track],
    protections: Mapping[int, TrackProtection],
    pssh_boxes: Sequence[Box] = (),
    *,
    brands: Sequence[str] = DEFAULT_BRANDS,
) -> bytes:
    """An init segment whose tracks in ``protections`` (by track id) are protected."""

    def rewrite(track: Track, entry: bytes) -> bytes:
        protection = protections.get(track.track_id)
        return entry if protection is None else protect_sample_entry(entry, protection)

    return build_init_segment(
        tracks, brands=brands, rewrite_sample_entry=rewrite, extra_moov_boxes=pssh_boxes
    )


@functools.lru_cache(maxsize=64)
def _nal_config(codec: str, codec_private: bytes) -> avc.NalConfig:
    """The parsed avcC/hvcC of a track (parsed once per distinct record)."""
    if _NAL_CODECS[codec] == "hevc":
        return avc.parse_hvcc(codec_private)
    return avc.parse_avcc(codec_private)


def subsample_maps(
    track: Track, protection: TrackProtection, data: bytes | memoryview, sizes: list[int]
) -> list[list[Subsample]] | None:
    """The subsample maps of consecutive samples of ``track`` (None: whole-sample encryption)."""
    if track.kind != "video":
        return None
    if track.codec not in _NAL_CODECS:
        raise MediaError(f"no subsample rules for video codec {track.codec!r}")
    config = _nal_config(track.codec, track.codec_private)
    return NalSubsampleMapper(config, protection.scheme).maps(data, sizes)


def _fragment_boxes(
    prefix: bytes,
) -> tuple[MovieFragmentBox, TrackFragmentBox, TrackRunBox, list[int], bytes]:
    """Parse a planned fragment's moof: (moof, traf, trun, sample sizes, mdat header)."""
    header = read_box_header(prefix, 0, len(prefix))
    if header is None or header.fourcc != b"moof":
        raise MediaError("a fragment plan starts with a 'moof'")
    moof = parse_box(prefix, header)
    traf = moof.find(b"traf") if isinstance(moof, MovieFragmentBox) else None
    if not isinstance(moof, MovieFragmentBox) or not isinstance(traf, TrackFragmentBox):
        raise MediaError("fragment has no 'traf'")
    tfhd, trun = traf.find(b"tfhd"), traf.find(b"trun")
    if not isinstance(tfhd, TrackFragmentHeaderBox) or not isinstance(trun, TrackRunBox):
        raise MediaError("fragment has no 'tfhd' or 'trun'")
    if trun.sizes is not None:
        sizes = trun.sizes.tolist()
    elif tfhd.default_sample_size is not None:
        sizes = [tfhd.default_sample_size] * trun.sample_count
    else:
        raise MediaError("fragment sample sizes are not in its 'moof'")
    return moof, traf, trun, sizes, prefix[header.end :]


def _senc_entries_offset(moof: MovieFragmentBox, traf: TrackFragmentBox, senc: Box) -> int:
    """Offset from the first byte of the moof to the first sample entry inside 'senc'."""
    at = header_size_for(moof.payload_size())
    for child in moof.children:
        if child is traf:
            break
        at += child.size()
    at += header_size_for(traf.payload_size())
    for child in traf.children:
        if child is senc:
            return at + header_size_for(senc.payload_size()) + 8  # version/flags, count
        at += child.size()
    raise MediaError("'senc' is not in the 'traf'")


def encrypt_samples(
    protection: TrackProtection,
    kind: str,
    payload: bytearray | memoryview,
    sizes: list[int],
    maps: list[list[Subsample]] | None,
    ivs: list[bytes],
) -> None:
    """Encrypt consecutive samples lying back to back in ``payload``, in place.

    ``ivs`` are the samples' 'cenc' IVs (see :func:`sample_ivs`; unused for 'cbcs').
    """
    if protection.scheme == "cenc":
        cenc_crypt_samples(protection.key, ivs, payload, sizes, maps)
        return
    view, at = memoryview(payload), 0
    pattern = protection.pattern(kind)
    for index, size in enumerate(sizes):
        sample_map = None if maps is None else maps[index]
        cbcs_crypt_sample(protection.key, protection.constant_iv, view[at : at + size],
                          sample_map, pattern)  # fmt: skip
        at += size


def encrypt_fragment(
    plan: FragmentPlan,
    data: bytes | memoryview,
    track: Track,
    protection: TrackProtection,
    first_sample: int,
    *,
    maps: list[list[Subsample]] | None = None,
) -> bytearray:
    """The encrypted fragment (moof with senc/saiz/saio, then mdat) of a planned clear one.

    ``data`` is what :func:`~openvod.media.mp4.writer.build_fragment` takes;
    ``first_sample`` the track index of the fragment's first sample (it picks
    the per-sample IVs). ``maps`` are the samples' subsample maps when the
    caller kept them (see :func:`subsample_maps`); they are computed otherwise.
    """
    if len(data) != plan.data_size_bytes:
        raise ValueError(f"expected {plan.data_size_bytes} bytes of sample data, got {len(data)}")
    moof, traf, trun, sizes, mdat = _fragment_boxes(plan.prefix)
    if maps is None:
        maps = subsample_maps(track, protection, data, sizes)
    elif track.kind != "video" or len(maps) != len(sizes):
        raise ValueError("subsample maps given for other samples")
    ivs = sample_ivs(protection, first_sample, len(sizes))
    _add_encryption_boxes(moof, traf, SampleEncryptionBox(ivs, maps))
    trun.data_offset = moof.size() + len(mdat)
    head = moof.to_bytes() + mdat
    out = bytearray(len(head) + len(data))
    out[: len(head)] = head
    out[len(head) :] = data
    encrypt_samples(protection, track.kind, memoryview(out)[len(head) :], sizes, maps, ivs)
    return out


def sample_ivs(protection: TrackProtection, first_sample: int, count: int) -> list[bytes]:
    """The 'senc' IVs of ``count`` samples from ``first_sample`` (empty for 'cbcs': its IV
    is constant, in 'tenc')."""
    if protection.scheme != "cenc":
        return [b""] * count
    if protection.iv_source is None:
        raise ValueError("'cenc' needs an IV source")
    return protection.iv_source.ivs(first_sample, count)


def _add_encryption_boxes(
    moof: MovieFragmentBox, traf: TrackFragmentBox, senc: SampleEncryptionBox
) -> None:
    """Append saiz + saio + senc to the traf (only senc when no sample has auxiliary bytes,
    as for 'cbcs' audio: constant IV, no map) and point saio at the senc entries."""
    info_sizes = senc.sample_info_sizes()
    if not any(info_sizes):
        traf.children.append(senc)
        return
    saio = SampleAuxiliaryInformationOffsetsBox([0])
    saiz = SampleAuxiliaryInformationSizesBox.for_sizes(info_sizes)
    traf.children += [saiz, saio, senc]
    saio.offsets = [_senc_entries_offset(moof, traf, senc)]
