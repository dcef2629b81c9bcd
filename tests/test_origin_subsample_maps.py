"""The origin keeps CENC subsample maps and fragment plans per asset version: made once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from openvod.media.crypto import cbcs_protection, cenc_protection, encrypt_fragment
from openvod.media.crypto.cenc import subsample_maps
from openvod.media.crypto.subsamples import CompactMaps
from openvod.media.mp4 import plan_fragment
from openvod.origin.encryption import fragment_maps, fragment_plan
from tests.media._mp4_media import Media, get_media

KEY = bytes(range(16))
KID = bytes(range(16, 32))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    """H.264 + AAC."""
    return get_media("faststart", tmp_path_factory)


def _rendition(media: Media, kind: str) -> Any:
    track = media.movie.track(kind)
    return SimpleNamespace(kind=kind, track=track, source=SimpleNamespace(file_name="a.mp4"))


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_maps_are_made_once_and_encrypt_identically(media: Media, scheme: str) -> None:
    rendition = _rendition(media, "video")
    track = rendition.track
    protection = (cenc_protection if scheme == "cenc" else cbcs_protection)(KID, KEY, 1)
    asset: Any = SimpleNamespace(memo={})
    plan = plan_fragment(track, 10, 60, 3)
    data = _data(media, 10, 60)
    made = fragment_maps(asset, rendition, protection, 10, 60, data)
    assert made == subsample_maps(track, protection, data, track.samples.size[10:60].tolist())
    assert [type(v) for v in asset.memo.values()] == [CompactMaps]
    # kept: the second call does not look at the bytes (zeros would not parse)
    again = fragment_maps(asset, rendition, protection, 10, 60, bytes(len(data)))
    assert again == made
    fresh = encrypt_fragment(plan, data, track, protection, 10)
    assert encrypt_fragment(plan, data, track, protection, 10, maps=again) == fresh
    # another fragment, or the other scheme, has its own maps
    other = cbcs_protection(KID, KEY, 1) if scheme == "cenc" else cenc_protection(KID, KEY, 1)
    fragment_maps(asset, rendition, other, 10, 60, data)
    fragment_maps(asset, rendition, protection, 0, 10, _data(media, 0, 10))
    assert len(asset.memo) == 3


def _data(media: Media, first: int, end: int) -> bytes:
    track = media.movie.track("video")
    assert track is not None
    plan = plan_fragment(track, first, end, 1)
    return b"".join(media.data[o : o + n] for o, n in plan.reads)


def test_audio_has_no_maps(media: Media) -> None:
    rendition = _rendition(media, "audio")
    asset: Any = SimpleNamespace(memo={})
    protection = cenc_protection(KID, KEY, 2)
    assert fragment_maps(asset, rendition, protection, 0, 10, b"") is None
    assert asset.memo == {}


def test_plans_are_kept(media: Media) -> None:
    rendition = _rendition(media, "video")
    asset: Any = SimpleNamespace(memo={})
    plan = fragment_plan(asset, rendition, 10, 60, 3)
    assert plan == plan_fragment(rendition.track, 10, 60, 3)
    assert fragment_plan(asset, rendition, 10, 60, 3) is plan
    assert fragment_plan(asset, rendition, 10, 60, 4) != plan  # another sequence number
