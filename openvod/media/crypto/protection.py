"""What protects one track: scheme, key, KID and IVs, and where per-sample IVs come from.

The origin is stateless, so per-sample IVs are a pure function of the key,
the track and the sample's index in its track: :class:`SequentialIvs` gives
sample ``n`` the IV ``base + n`` (8 bytes; a 16-byte IV is that followed by
8 zero bytes), so the counter blocks of two samples never overlap, and
:func:`derive_iv_base` derives a base per key and track so two tracks
under one key never share IVs either.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

from openvod.media.crypto.sample_cipher import VIDEO_PATTERN, WHOLE_BLOCKS, Pattern, check_key
from openvod.media.crypto.subsamples import Scheme
from openvod.media.mp4.protection_boxes import KID_SIZE, TrackEncryptionBox

_U64 = 1 << 64


class IvSource(Protocol):
    """Gives the per-sample IVs of consecutive samples of one track."""

    def ivs(self, first_sample: int, count: int) -> list[bytes]:
        """IVs of samples ``first_sample`` .. ``first_sample + count - 1`` (track indexes)."""
        ...


@dataclass(frozen=True)
class SequentialIvs:
    """IV of sample ``n``: the 8-byte ``base + n`` (wrapping), zero-padded to ``size`` bytes."""

    base: bytes
    size: int = 8

    def __post_init__(self) -> None:
        if len(self.base) != 8 or self.size not in (8, 16):
            raise ValueError("SequentialIvs needs an 8-byte base and a size of 8 or 16")

    def ivs(self, first_sample: int, count: int) -> list[bytes]:
        start = int.from_bytes(self.base, "big") + first_sample
        pad = bytes(self.size - 8)
        return [((start + i) % _U64).to_bytes(8, "big") + pad for i in range(count)]


def derive_iv_base(key: bytes, track_id: int, label: str = "cenc") -> bytes:
    """An 8-byte IV base for one track under one key: HMAC-SHA256(key, label/track id)."""
    check_key(key)
    message = f"openvod-iv/{label}/{track_id}".encode("ascii")
    return hmac.new(key, message, hashlib.sha256).digest()[:8]


def derive_constant_iv(key: bytes, track_id: int) -> bytes:
    """A 16-byte 'cbcs' constant IV for one track under one key (HMAC-SHA256 based)."""
    check_key(key)
    message = f"openvod-iv/cbcs/{track_id}".encode("ascii")
    return hmac.new(key, message, hashlib.sha256).digest()[:16]


@dataclass(frozen=True)
class TrackProtection:
    """How one track is encrypted.

    'cenc': per-sample IVs of ``iv_size`` (8 or 16) bytes from ``iv_source``.
    'cbcs': ``constant_iv`` (16 bytes) for every sample, pattern 1:9 for video
    and whole blocks (0:0) for audio, as Shaka Packager writes them.
    """

    scheme: Scheme
    key_id: bytes
    key: bytes
    iv_size: int = 8
    constant_iv: bytes = b""
    iv_source: IvSource | None = None

    def __post_init__(self) -> None:
        check_key(self.key)
        if len(self.key_id) != KID_SIZE:
            raise ValueError("a KID is 16 bytes")
        if self.scheme == "cenc" and (self.iv_size not in (8, 16) or self.iv_source is None):
            raise ValueError("'cenc' needs an IV size of 8 or 16 and an IV source")
        if self.scheme == "cbcs" and len(self.constant_iv) != 16:
            raise ValueError("'cbcs' needs a 16-byte constant IV")
        if self.scheme not in ("cenc", "cbcs"):
            raise ValueError(f"unknown protection scheme {self.scheme!r}")

    def pattern(self, kind: str) -> Pattern:
        """The 'cbcs' pattern for a track kind (video 1:9, others whole blocks)."""
        return VIDEO_PATTERN if kind == "video" else WHOLE_BLOCKS

    def tenc(self, kind: str) -> TrackEncryptionBox:
        """The 'tenc' announcing this protection for a track of ``kind``."""
        if self.scheme == "cenc":
            return TrackEncryptionBox(self.key_id, self.iv_size)
        pattern = self.pattern(kind)
        return TrackEncryptionBox(
            self.key_id, 0, 1, pattern.crypt, pattern.skip, self.constant_iv, version=1
        )


def cenc_protection(
    key_id: bytes, key: bytes, track_id: int, *, iv_size: int = 8
) -> TrackProtection:
    """'cenc' protection with IVs derived from the key and track (see :func:`derive_iv_base`)."""
    source = SequentialIvs(derive_iv_base(key, track_id), iv_size)
    return TrackProtection("cenc", key_id, key, iv_size=iv_size, iv_source=source)


def cbcs_protection(
    key_id: bytes, key: bytes, track_id: int, *, constant_iv: bytes | None = None
) -> TrackProtection:
    """'cbcs' protection; the constant IV is derived from the key and track unless given."""
    iv = derive_constant_iv(key, track_id) if constant_iv is None else constant_iv
    return TrackProtection("cbcs", key_id, key, iv_size=0, constant_iv=iv)
