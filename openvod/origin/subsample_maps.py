"""Subsample maps kept per asset version: parsed once per fragment, shared by every key.

The maps (clear and protected byte ranges of each video sample, from its slice
headers) depend on the samples and the scheme only, so DASH, HLS fMP4 and Smooth
fragments of the same samples, under any locator and key, share one entry.
"""

from __future__ import annotations

from openvod.media.crypto.cenc import subsample_maps
from openvod.media.crypto.protection import TrackProtection
from openvod.media.crypto.subsamples import CompactMaps
from openvod.media.mp4.protection_boxes import Subsample
from openvod.media.presentation import Rendition
from openvod.origin.assets import LoadedAsset


def fragment_maps(
    asset: LoadedAsset,
    rendition: Rendition,
    protection: TrackProtection,
    first: int,
    end: int,
    data: bytes,
) -> list[list[Subsample]] | None:
    """The subsample maps of samples ``[first, end)`` (``data``), kept per asset version.

    Maps depend on the samples and the scheme, not on the key, so every locator
    and key of the asset shares them; the first request for a fragment makes
    them (parsing each slice header), the next ones only encrypt. They are kept
    per fragment (the in-band parameter sets seen depend on where it starts),
    compact (4 bytes a sample, 8 an entry: ~1 kB for a 2-s fragment at 25 fps),
    for as long as the asset version stays loaded.
    """
    if rendition.kind != "video":
        return None
    track = rendition.track
    key = ("subsamples", protection.scheme, rendition.source.file_name, track.track_id,
           first, end)  # fmt: skip
    kept = asset.memo.get(key)
    if isinstance(kept, CompactMaps):
        return kept.maps()
    maps = subsample_maps(track, protection, data, track.samples.size[first:end].tolist())
    if maps is not None:
        asset.memo[key] = CompactMaps.of(maps)
    return maps
