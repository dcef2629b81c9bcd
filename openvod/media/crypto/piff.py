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

Samples are encrypted exactly as for DASH 'cenc' (:func:`.cenc.encrypt_fragment`,
the same subsample maps, IVs and box splicing), so a Smooth fragment and the DASH fragment
of the same samples hold the same ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from openvod.errors import MediaError
from openvod.media.crypto.cenc import encrypt_fragment
from openvod.media.crypto.protection import TrackProtection
from openvod.media.mp4.boxes import Box
from openvod.media.mp4.protection_boxes import SampleEncryptionBox, Subsample
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
    *,
    maps: list[list[Subsample]] | None = None,
) -> bytes:
    """The encrypted Smooth fragment (moof with saiz/saio/PIFF box, then mdat) of a clear one.

    ``plan``, ``data`` and ``track`` are those of the clear Smooth fragment
    (times in 100 ns units); ``first_sample`` is the track index of its first
    sample, which picks the per-sample IVs. 'cenc' with 8-byte IVs only: PIFF
    1.1 has no pattern encryption, and Smooth clients assume 8-byte IVs. ``maps``:
    the samples' subsample maps when the caller kept them, as for
    :func:`.cenc.encrypt_fragment`.
    """
    if protection.scheme != "cenc" or protection.iv_size != PIFF_IV_SIZE:
        raise ValueError("PIFF 1.1 fragments are 'cenc' with 8-byte IVs")
    return bytes(encrypt_fragment(plan, data, track, protection, first_sample,
                                  maps=maps, entries_box=_piff_entries))  # fmt: skip


def _piff_entries(senc: SampleEncryptionBox) -> tuple[PiffSampleEncryptionBox, int]:
    """The 'senc' entries in PIFF's 'uuid' box, and where they start in its payload."""
    return PiffSampleEncryptionBox(senc), PiffSampleEncryptionBox.ENTRIES_AT
