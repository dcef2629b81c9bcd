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
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from openvod.errors import MediaError
from openvod.media import avc
from openvod.media.crypto.protection import TrackProtection
from openvod.media.crypto.sample_cipher import cbcs_crypt_sample, cenc_crypt_samples
from openvod.media.crypto.subsamples import NalSubsampleMapper
from openvod.media.mp4.boxes import (
    HEADER_SIZE,
    Box,
    BoxHeader,
    RawBox,
    header_size_for,
    iter_boxes,
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
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
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


# Wraps a fragment's 'senc' entries in another box: (that box, where the entries start in
# its payload).
EntriesBox = Callable[[SampleEncryptionBox], tuple[Box, int]]


@dataclass(frozen=True)
class _PlannedMoof:
    """Where the parts of a planned fragment's 'moof' sit in its prefix bytes."""

    moof: BoxHeader
    traf: BoxHeader
    data_offset_at: int  # the trun's data_offset field
    sizes: list[int]  # the samples' sizes


def _children(prefix: bytes, box: BoxHeader) -> dict[bytes, BoxHeader]:
    """The first child box of each type of a container in ``prefix``."""
    found: dict[bytes, BoxHeader] = {}
    for child in iter_boxes(prefix, box.payload_offset, box.end):
        found.setdefault(child.fourcc, child)
    return found


def _planned_moof(prefix: bytes) -> _PlannedMoof:
    """Locate the traf and the trun's data offset in a planned fragment's prefix."""
    moof = read_box_header(prefix, 0, len(prefix))
    if moof is None or moof.fourcc != b"moof" or moof.end > len(prefix):
        raise MediaError("a fragment plan starts with a 'moof'")
    traf = _children(prefix, moof).get(b"traf")
    if traf is None:
        raise MediaError("fragment has no 'traf'")
    boxes = _children(prefix, traf)
    if b"tfhd" not in boxes or b"trun" not in boxes:
        raise MediaError("fragment has no 'tfhd' or 'trun'")
    tfhd, trun = parse_box(prefix, boxes[b"tfhd"]), parse_box(prefix, boxes[b"trun"])
    if not isinstance(tfhd, TrackFragmentHeaderBox) or not isinstance(trun, TrackRunBox):
        raise MediaError("fragment has no 'tfhd' or 'trun'")
    if trun.data_offset is None or moof.header_size != HEADER_SIZE:
        raise MediaError("fragment plan without a data offset or with a 64-bit 'moof' size")
    if trun.sizes is not None:
        sizes = trun.sizes.tolist()
    elif tfhd.default_sample_size is not None:
        sizes = [tfhd.default_sample_size] * trun.sample_count
    else:
        raise MediaError("fragment sample sizes are not in its 'moof'")
    return _PlannedMoof(moof, traf, boxes[b"trun"].payload_offset + 8, sizes)


def _encrypted_head(
    prefix: bytes, planned: _PlannedMoof, box: Box, info_sizes: list[int], entries_at: int = 8
) -> bytes:
    """The prefix (moof, mdat header) with saiz + saio + ``box`` appended to the traf (only
    ``box`` when no sample has auxiliary bytes, as for 'cbcs' audio: constant IV, no map),
    saio pointing at the entries inside ``box`` and the trun at the mdat payload.

    ``box`` holds the sample encryption entries: 'senc', or PIFF's 'uuid' form;
    ``entries_at`` is where its first entry lies in its payload (8 for 'senc':
    version/flags and sample count). Spliced into the planned bytes rather than
    re-serialising the parsed moof: only the grown sizes and the two offsets change.
    """
    moof, traf = planned.moof, planned.traf
    box_bytes = box.to_bytes()
    added = box_bytes
    if any(info_sizes):
        saiz = SampleAuxiliaryInformationSizesBox.for_sizes(info_sizes).to_bytes()
        saio_size = SampleAuxiliaryInformationOffsetsBox([0]).size()
        box_header = header_size_for(len(box_bytes) - HEADER_SIZE)
        entries = traf.end + len(saiz) + saio_size + box_header + entries_at
        saio = SampleAuxiliaryInformationOffsetsBox([entries - moof.offset]).to_bytes()
        added = saiz + saio + box_bytes
    grown = len(added)
    if traf.header_size != HEADER_SIZE or moof.size_bytes + grown > 0xFFFFFFFF:
        raise MediaError("fragment too large for 32-bit box sizes")
    head = bytearray(prefix[: traf.end])
    head += added
    head += prefix[traf.end :]
    _U32.pack_into(head, moof.offset, moof.size_bytes + grown)
    _U32.pack_into(head, traf.offset, traf.size_bytes + grown)
    at = planned.data_offset_at
    _I32.pack_into(head, at, _I32.unpack_from(prefix, at)[0] + grown)
    return bytes(head)


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
    entries_box: EntriesBox | None = None,
) -> bytearray:
    """The encrypted fragment (moof with senc/saiz/saio, then mdat) of a planned clear one.

    ``data`` is what :func:`~openvod.media.mp4.writer.build_fragment` takes;
    ``first_sample`` the track index of the fragment's first sample (it picks
    the per-sample IVs). ``maps`` are the samples' subsample maps when the
    caller kept them (see :func:`subsample_maps`); they are computed otherwise.
    ``entries_box`` wraps the 'senc' entries in another box (PIFF's 'uuid' form),
    giving that box and where the entries start in its payload.
    """
    if len(data) != plan.data_size_bytes:
        raise ValueError(f"expected {plan.data_size_bytes} bytes of sample data, got {len(data)}")
    planned = _planned_moof(plan.prefix)
    sizes = planned.sizes
    if maps is None:
        maps = subsample_maps(track, protection, data, sizes)
    elif track.kind != "video" or len(maps) != len(sizes):
        raise ValueError("subsample maps given for other samples")
    ivs = sample_ivs(protection, first_sample, len(sizes))
    senc = SampleEncryptionBox(ivs, maps)
    box, entries_at = (senc, 8) if entries_box is None else entries_box(senc)
    head = _encrypted_head(plan.prefix, planned, box, senc.sample_info_sizes(), entries_at)
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
