"""Loading presentations from a local blob store: .ism or derived, sidecars or moov, revalidation,
and segments built from coalesced reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from openvod import errors
from openvod.media.mp4 import plan_fragment
from openvod.media.urls import FragmentRequest
from openvod.origin.assets import AssetCache, AssetLoader, LoadedAsset
from openvod.origin.segments import build_fragment_body, read_ranges
from openvod.origin.sources import SourceFile
from openvod.storage.local import LocalBlobStore
from tests.origin_support import ism_text, make_ladder

CONTAINER = "asset-units"


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_ladder(tmp_path_factory.mktemp("media"))


@pytest.fixture()
def store(tmp_path: Path, ladder: list[Path]) -> Iterator[LocalBlobStore]:
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.create_container(CONTAINER)
    for mp4 in ladder:
        blobs.put_file(CONTAINER, mp4.name, mp4)
        blobs.put_file(CONTAINER, mp4.name + ".ovi", mp4.with_name(mp4.name + ".ovi"))
    blobs.put_blob(CONTAINER, ladder[0].stem + ".ism", ism_text(ladder).encode())
    yield blobs


def load(store: LocalBlobStore, name: str) -> LoadedAsset:
    loader = AssetLoader(store)
    return loader.load(CONTAINER, name, loader.listing(CONTAINER, name))


def timelines(asset: LoadedAsset) -> list[list[int]]:
    return [r.start_ticks.tolist() for r in asset.presentation.renditions]


def test_ism_and_sidecars(store: LocalBlobStore, ladder: list[Path]) -> None:
    asset = load(store, ladder[0].stem)
    p = asset.presentation
    assert [r.bitrate_bps for r in p.video] == [400_000, 250_000, 150_000]
    assert [r.track_name for r in p.audio] == ["aac_und_2_64"]
    assert asset.all_local and set(asset.files) == {f.name for f in ladder}


def test_without_sidecars_the_moov_is_parsed(store: LocalBlobStore, ladder: list[Path]) -> None:
    with_index = load(store, ladder[0].stem)
    for mp4 in ladder:
        store.delete_blob(CONTAINER, mp4.name + ".ovi")
    store.put_blob(CONTAINER, ladder[1].name + ".ovi", b"not an index")  # ignored
    parsed = load(store, ladder[0].stem)
    assert timelines(parsed) == timelines(with_index)
    assert parsed.version != with_index.version


def test_stale_sidecar_is_ignored(store: LocalBlobStore, ladder: list[Path]) -> None:
    # the sidecar of another (smaller) file: its recorded size does not match
    store.put_file(CONTAINER, ladder[0].name + ".ovi", ladder[2].with_name(ladder[2].name + ".ovi"))
    asset = load(store, ladder[0].stem)
    assert asset.presentation.video[0].track.width == 320


def test_derived_without_ism(store: LocalBlobStore, ladder: list[Path]) -> None:
    store.delete_blob(CONTAINER, ladder[0].stem + ".ism")
    asset = load(store, ladder[1].stem)  # any MP4's stem names the presentation
    assert len(asset.presentation.video) == 3 and len(asset.presentation.audio) == 1
    with pytest.raises(errors.NotFoundError):
        load(store, "nosuch")


def test_cache_revalidates_by_etag(store: LocalBlobStore, ladder: list[Path]) -> None:
    listings: list[str] = []
    loader = AssetLoader(store)
    original = loader.listing

    def counting(container: str, name: str) -> list:  # type: ignore[type-arg]
        listings.append(name)
        return original(container, name)

    loader.listing = counting  # type: ignore[method-assign]
    cache = AssetCache(loader, revalidate_seconds=0)
    name = ladder[0].stem

    async def scenario() -> None:
        first = await cache.get(CONTAINER, name)
        assert await cache.get(CONTAINER, name) is first  # relisted, etags unchanged
        store.put_file(CONTAINER, ladder[2].name, ladder[2])  # rewritten: new etag
        second = await cache.get(CONTAINER, name)
        assert second is not first and second.version != first.version
        slow = AssetCache(loader, revalidate_seconds=60)
        entries = await asyncio.gather(*(slow.get(CONTAINER, name) for _ in range(5)))
        assert all(e is entries[0] for e in entries)
        before = len(listings)
        for _ in range(3):
            with pytest.raises(errors.NotFoundError):
                await slow.get(CONTAINER, "nosuch")
        assert len(listings) == before + 1  # the failure is remembered

    asyncio.run(scenario())
    assert len(listings) == 3 + 1 + 1


def test_fragment_bytes_match_the_source(store: LocalBlobStore, ladder: list[Path]) -> None:
    asset = load(store, ladder[0].stem)
    video = asset.presentation.video[0]
    first, end = video.segment_samples(1)
    plan = plan_fragment(video.track, first, end, 2)
    data = ladder[0].read_bytes()
    expected = plan.prefix + b"".join(data[o : o + s] for o, s in plan.reads)
    start = int(video.start_ticks[1])
    request = FragmentRequest(video.bitrate_bps, "video", start, "mpd-time-cmaf")
    body = build_fragment_body(asset, request)
    assert body.data == expected and body.content_type == b"video/mp4"


def test_read_ranges(store: LocalBlobStore, ladder: list[Path]) -> None:
    source = SourceFile(store, CONTAINER, ladder[0].name)
    data = ladder[0].read_bytes()
    for reads in ([(10, 5), (20, 5), (40, 1)], [(100, 10)], [(0, 4), (len(data) - 4, 4)],
                  [(50, 5), (10, 5)]):
        got = b"".join(read_ranges(source, reads))
        assert got == b"".join(data[o : o + s] for o, s in reads)
    with pytest.raises(errors.MediaError):
        source.read(len(data) - 2, 10)
    source.close()


def test_a_failure_is_a_value_loaded_once(store: LocalBlobStore, ladder: list[Path]) -> None:
    import traceback

    from openvod.origin.errors import BrokenAssetError

    store.put_blob(CONTAINER, ladder[0].stem + ".ism", b"<smil><body><switch><video src=")
    loader = AssetLoader(store)
    loads: list[str] = []
    original = loader.load

    def counting(container: str, name: str, blobs: list) -> LoadedAsset:  # type: ignore[type-arg]
        loads.append(name)
        return original(container, name, blobs)

    loader.load = counting  # type: ignore[method-assign]
    cache = AssetCache(loader, revalidate_seconds=0)  # relisted on every request

    async def scenario() -> list[int]:
        depths = []
        for _ in range(50):
            with pytest.raises(BrokenAssetError) as caught:
                await cache.get(CONTAINER, ladder[0].stem)
            depths.append(len(traceback.extract_tb(caught.value.__traceback__)))
            assert caught.value.file == ladder[0].stem + ".ism"
        return depths

    depths = asyncio.run(scenario())
    assert len(set(depths)) == 1  # a fresh exception each time: no frames pile up
    assert loads == [ladder[0].stem]  # same files: parsed once, not per request
