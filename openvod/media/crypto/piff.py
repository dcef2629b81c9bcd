"""PIFF 1.1 sample encryption: encrypted Smooth Streaming fragments.

Smooth Streaming has no init segment: the client builds its own 'moov' from
the client manifest (CodecPrivateData, and the KID of the PlayReady header
in its ``<Protection>`` element, with 8-byte IVs and AES-CTR). So all a
fragment carries is the per-sample encryption data, in the PIFF 1.1
SampleEncryptionBox: a 'uuid' box (extended type
a2394f52-5a9b-4f14-a244-6c427c648df4) whose payload after the uuid is laid
out exactly as a 'senc' (version, flags 0x2 when samples have subsample maps,
sample count, IV and subsamples per sample). Flag 0x1 (an override of
algorithm, IV size and KID) is never set: the manifest's defaults apply.

Beside it go 'saiz' and 'saio', 'saio' pointing at the first entry inside
the PIFF box, as nginx-vod-module's mss_playready writes them: a CENC-aware
parser that knows no PIFF finds the same bytes through them, and a PIFF
client (Silverlight, dash.js's MSS support, ExoPlayer) reads the 'uuid'.
No separate 'senc' is added: it would carry the same entries a second time,
and dash.js, which turns the PIFF box into a 'senc', would then see two.

Samples are encrypted exactly as for DASH 'cenc' (:func:`.cenc.encrypt_samples`,
the same subsample maps and IVs), so a Smooth fragment and the DASH fragment
of the same samples hold the same ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from openvod.errors import MediaError
from openvod.media.crypto.cenc import encrypt_samples, sample_ivs, subsample_maps
from openvod.media.crypto.protection import TrackProtection
from openvod.media.mp4.boxes import (
    Box,
    MovieFragmentBox,
    TrackFragmentBox,
    header_size_for,
    parse_box,
    read_box_header,
)
from openvod.media.mp4.fragment_boxes import TrackFragmentHeaderBox, TrackRunBox
from openvod.media.mp4.protection_boxes import (
    SampleAuxiliaryInformationOffsetsBox,
    SampleAuxiliaryInformationSizesBox,
    SampleEncryptionBox,
)
from openvod.media.mp4.writer import FragmentPlan
from openvod.media.track import Track

PIFF_SAMPLE_ENCRYPTION_UUID = bytes.fromhex("A2394F525A9B4F14A2446C427C648DF4")
PIFF_IV_SIZE = 8
_UUID_SIZE = 16


@dataclass
class PiffSampleEncryptionBox(Box):  # uuid a2394f52-5a9b-4f14-a244-6c427c648df4
    """PIFF 1.1 SampleEncryptionBox: a 'senc' payload behind the PIFF extended type.

    Not in the fourcc registry ('uuid' boxes are told apart by their extended
    type): parse with :meth:`parse_payload` after checking the uuid.
    """

    fourcc: ClassVar[bytes] = b"uuid"
    entries: SampleEncryptionBox = field(default_factory=SampleEncryptionBox)
    # Where the first sample entry lies in the payload: uuid, version/flags, sample count.
    ENTRIES_AT: ClassVar[int] = _UUID_SIZE + 8

    def payload_size(self) -> int:
        return _UUID_SIZE + self.entries.payload_size()

    def write_payload(self, out: bytearray) -> None:
        out += PIFF_SAMPLE_ENCRYPTION_UUID
        self.entries.write_payload(out)

    @classmethod
    def parse_payload(cls, payload: memoryview) -> Self:
        return cls.parse_with_iv_size(payload, PIFF_IV_SIZE)

    @classmethod
    def parse_with_iv_size(cls, payload: memoryview | bytes, iv_size: int) -> Self:
        """Parse the payload of a 'uuid' box holding PIFF sample encryption entries."""
        view = memoryview(payload)
        if bytes(view[:_UUID_SIZE]) != PIFF_SAMPLE_ENCRYPTION_UUID:
            raise MediaError("not a PIFF SampleEncryptionBox")
        if len(view) >= _UUID_SIZE + 4 and view[_UUID_SIZE + 3] & 0x1:
            raise MediaError("PIFF SampleEncryptionBox overrides are not supported")
        return cls(SampleEncryptionBox.parse_with_iv_size(view[_UUID_SIZE:], iv_size))


def encrypt_piff_fragment(
    plan: FragmentPlan,
    data: bytes | memoryview,
    track: Track,
    protection: TrackProtection,
    first_sample: int,
) -> bytes:
    """The encrypted Smooth fragment (moof with saiz/saio/PIFF box, then mdat) of a clear one.

    ``plan``, ``data`` and ``track`` are those of the clear Smooth fragment
    (times in 100 ns units); ``first_sample`` is the track index of its first
    sample, which picks the per-sample IVs. 'cenc' with 8-byte IVs only: PIFF
    1.1 has no pattern encryption, and Smooth clients assume 8-byte IVs.
    """
    if protection.scheme != "cenc" or protection.iv_size != PIFF_IV_SIZE:
        raise ValueError("PIFF 1.1 fragments are 'cenc' with 8-byte IVs")
    if len(data) != plan.data_size_bytes:
        raise ValueError(f"expected {plan.data_size_bytes} bytes of sample data, got {len(data)}")
    moof, traf, trun, sizes, mdat = _fragment_boxes(plan.prefix)
    maps = subsample_maps(track, protection, data, sizes)
    payload = bytearray(data)
    ivs = sample_ivs(protection, first_sample, len(sizes))
    encrypt_samples(protection, track.kind, payload, sizes, maps, ivs)
    piff = PiffSampleEncryptionBox(SampleEncryptionBox(ivs, maps))
    saiz = SampleAuxiliaryInformationSizesBox.for_sizes(piff.entries.sample_info_sizes())
    saio = SampleAuxiliaryInformationOffsetsBox([0])
    traf.children += [saiz, saio, piff]
    saio.offsets = [_entries_offset(moof, traf, piff, PiffSampleEncryptionBox.ENTRIES_AT)]
    trun.data_offset = moof.size() + len(mdat)
    return moof.to_bytes() + mdat + bytes(payload)


def _fragment_boxes(
    prefix: bytes,
) -> tuple[MovieFragmentBox, TrackFragmentBox, TrackRunBox, list[int], bytes]:
    """Parse a planned fragment's moof: (moof, traf, trun, sample sizes, mdat header).

    The boxes are live objects: callers add protection boxes to the 'traf' and
    re-point the 'trun' before serialising the 'moof' again.
    """
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


def _entries_offset(
    moof: MovieFragmentBox, traf: TrackFragmentBox, senc: Box, entries_at: int = 8
) -> int:
    """Offset from the first byte of the moof to the first sample entry inside ``senc``.

    ``entries_at``: where the entries start in the box's payload (8 for 'senc':
    version/flags and sample count; more for the PIFF 'uuid' form).
    """
    at = header_size_for(moof.payload_size())
    for child in moof.children:
        if child is traf:
            break
        at += child.size()
    at += header_size_for(traf.payload_size())
    for child in traf.children:
        if child is senc:
            return at + header_size_for(senc.payload_size()) + entries_at
        at += child.size()
    raise MediaError("'senc' is not in the 'traf'")
