"""Subsample maps: which bytes of a video sample stay clear (ISO/IEC 23001-7 9.5, 10.4).

A map is a list of (clear, protected) byte counts covering the sample. For
NAL-structured video (H.264, HEVC) every NAL unit's length prefix, NAL
header and slice header stay clear, so the protected part starts with the
slice data, as 'cbcs' requires and as Shaka Packager also does for 'cenc';
non-VCL units (parameter sets, SEI, access unit delimiters, ...) stay clear
whole. Under 'cenc' the protected part of each unit is cut to a whole
number of 16-byte blocks, as CMAF requires; the unit's last partial block
stays clear (Shaka Packager v3 does the same). Consecutive clear bytes merge
into the next subsample; a clear count above 65535 is split into entries
with nothing protected. Audio has no map: it is encrypted whole.

Maps depend only on the samples (not on the key or IVs), so a server may
keep them: :class:`CompactMaps` holds the maps of consecutive samples in two
small arrays instead of a Python object per entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media import avc
from openvod.media.crypto.avc_slice import AvcSliceHeaderParser
from openvod.media.crypto.hevc_slice import HevcSliceHeaderParser
from openvod.media.mp4.protection_boxes import Subsample

Scheme = Literal["cenc", "cbcs"]
AES_BLOCK = 16
_MAX_CLEAR = 0xFFFF
_PARAMETER_SETS = {"avc": (7, 8), "hevc": (33, 34)}


def is_vcl(nal_type: int, codec: avc.NalCodec) -> bool:
    """Whether a NAL unit carries slice data (H.264 types 1-5, HEVC types 0-31)."""
    return nal_type < 32 if codec == "hevc" else 1 <= nal_type <= 5


@dataclass
class _Organizer:
    """Collects (clear, protected) pairs: aligns, merges clear runs, splits big clear counts."""

    align: bool
    entries: list[Subsample] = field(default_factory=list)
    pending_clear: int = 0

    def add(self, clear: int, protected: int) -> None:
        misaligned = protected % AES_BLOCK if self.align else 0
        protected -= misaligned
        self.pending_clear += clear
        if protected:
            self._push(self.pending_clear, protected)
            self.pending_clear = 0
        self.pending_clear += misaligned  # the unit's last partial block stays clear

    def _push(self, clear: int, protected: int) -> None:
        while clear > _MAX_CLEAR:
            self.entries.append((_MAX_CLEAR, 0))
            clear -= _MAX_CLEAR
        self.entries.append((clear, protected))

    def finish(self) -> list[Subsample]:
        if self.pending_clear:
            self._push(self.pending_clear, 0)
            self.pending_clear = 0
        return self.entries


@dataclass
class NalSubsampleMapper:
    """Makes the subsample maps of one video track's samples, in decode order.

    Keeps the H.264 parameter sets seen so far (from the avcC and in-band),
    which slice headers need to be measured.
    """

    config: avc.NalConfig
    scheme: Scheme
    _slices: AvcSliceHeaderParser | HevcSliceHeaderParser = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.config, avc.HevcConfig):
            self._slices = HevcSliceHeaderParser(self.config.sps, self.config.pps)
        else:
            self._slices = AvcSliceHeaderParser(self.config.sps, self.config.pps)

    def sample_map(self, sample: bytes | memoryview) -> list[Subsample]:
        """The (clear, protected) pairs covering one length-prefixed sample."""
        organizer = _Organizer(align=self.scheme == "cenc")
        prefix = self.config.nal_length_size
        for nal in avc.iter_nal_units(sample, prefix):
            if not len(nal):
                raise MediaError("empty NAL unit in a video sample")
            clear = self._clear_bytes(nal)
            organizer.add(prefix + clear, len(nal) - clear)
        return organizer.finish()

    def _clear_bytes(self, nal: memoryview) -> int:
        """The clear bytes at the start of one NAL unit (all of it when not a slice)."""
        codec = self.config.codec
        hevc = codec == "hevc"
        nal_type = (nal[0] >> 1) & 0x3F if hevc else nal[0] & 0x1F
        if not is_vcl(nal_type, codec):
            if nal_type in _PARAMETER_SETS[codec]:
                self._slices.add_parameter_set(bytes(nal))
            return len(nal)
        header = 2 if hevc else 1
        return min(header + self._slices.header_size(nal), len(nal))

    def maps(self, data: bytes | memoryview, sizes: list[int]) -> list[list[Subsample]]:
        """The maps of consecutive samples lying back to back in ``data``."""
        view, out, at = memoryview(data), [], 0
        for size in sizes:
            out.append(self.sample_map(view[at : at + size]))
            at += size
        if at != len(view):
            raise MediaError("sample sizes do not add up to the data given")
        return out


def protected_ranges(subsamples: list[Subsample]) -> Iterator[tuple[int, int]]:
    """(offset, size) in the sample of each non-empty protected range of a map."""
    at = 0
    for clear, protected in subsamples:
        at += clear
        if protected:
            yield at, protected
        at += protected


@dataclass(frozen=True)
class CompactMaps:
    """The subsample maps of consecutive samples in two arrays: how many entries each
    sample's map has, and every (clear, protected) entry in order."""

    counts: npt.NDArray[np.uint32]
    entries: npt.NDArray[np.uint32]  # shape (sum of counts, 2)

    @classmethod
    def of(cls, maps: list[list[Subsample]]) -> CompactMaps:
        """The compact form of ``maps``."""
        counts = np.fromiter((len(m) for m in maps), dtype=np.uint32, count=len(maps))
        flat = [value for sample_map in maps for entry in sample_map for value in entry]
        return cls(counts, np.array(flat, dtype=np.uint32).reshape(-1, 2))

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return int(self.counts.nbytes + self.entries.nbytes)

    def maps(self) -> list[list[Subsample]]:
        """The maps as lists of (clear, protected) pairs, one list per sample."""
        pairs = list(zip(*self.entries.T.tolist(), strict=True)) if len(self.entries) else []
        out, at = [], 0
        for count in self.counts.tolist():
            out.append(pairs[at : at + count])
            at += count
        return out
