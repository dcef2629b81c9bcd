"""The origin's pure parts: Range parsing, path checks, caches, publishing rules, status table."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest

from openvod import errors
from openvod.httpkit.ranges import ByteSpan
from openvod.media.filters import ManifestFilter
from openvod.origin.app import is_api_path, split_path
from openvod.origin.bodies import BytesBody, CachedResponse, MemfdBody, stored_body
from openvod.origin.cache import ByteLruCache, TtlCache
from openvod.origin.download import check_download_name, content_type_for
from openvod.origin.errors import (
    NotPublishedError,
    RangeNotSatisfiableError,
    error_headers,
    status_for,
)
from openvod.origin.publishing import Publication, PublishingResolver, parse_locator_id
from openvod.origin.routes import RouteTable, parse_path
from openvod.origin.selection import select

LOCATOR = "0b0c2d4e-1111-4222-8333-944455556666"
NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("header", "expected"), [
    (b"bytes=0-9", ByteSpan(0, 10)),
    (b"bytes=90-", ByteSpan(90, 10)),
    (b"bytes=-3", ByteSpan(97, 3)),
    (b"bytes=-500", ByteSpan(0, 100)),
    (b"bytes=95-200", ByteSpan(95, 5)),
    (b"BYTES = 1-1", ByteSpan(1, 1)),  # the unit is case-insensitive; blanks tolerated
    (b"bytes=0-1,4-5", None),  # several ranges: the whole file
    (b"bytes=5-1", None),
    (b"bytes=a-b", None),
    (b"bytes=-", None),
    (b"pages=0-1", None),
])
def test_parse_range(header: bytes, expected: ByteSpan | None) -> None:
    chosen = select({b"range": header}, etag='"e"', last_modified=None, size_bytes=100)
    assert chosen.status == (200 if expected is None else 206)
    assert chosen.span == (expected or ByteSpan(0, 100))


@pytest.mark.parametrize("header", [b"bytes=100-", b"bytes=100-200", b"bytes=-0"])
def test_unsatisfiable_ranges(header: bytes) -> None:
    with pytest.raises(RangeNotSatisfiableError) as info:
        select({b"range": header}, etag='"e"', last_modified=None, size_bytes=100)
    assert status_for(info.value) == 416
    assert error_headers(info.value) == [(b"content-range", b"bytes */100")]


def test_status_table() -> None:
    assert status_for(NotPublishedError("x")) == 404
    assert status_for(errors.NotFoundError("x")) == 404
    assert status_for(errors.InvalidNameError("x")) == 404
    assert status_for(errors.InvalidRequestError("x")) == 400
    assert status_for(errors.MediaError("x")) == 500
    assert status_for(RuntimeError("x")) == 500


@pytest.mark.parametrize("raw", [
    b"/" + LOCATOR.encode() + b"/../x", b"/" + LOCATOR.encode() + b"/%2E%2e/x",
    b"/" + LOCATOR.encode() + b"/a%2fb", b"/" + LOCATOR.encode() + b"/a%5Cb",
    b"/" + LOCATOR.encode() + b"//x", b"/" + LOCATOR.encode(), b"/nope/x.mp4",
    b"/" + LOCATOR.encode() + b"/%C3", b"/" + LOCATOR.encode() + b"/a\\b",
])
def test_split_path_refuses(raw: bytes) -> None:
    with pytest.raises(errors.NotFoundError):
        split_path(raw)


def test_split_path_decodes() -> None:
    path = split_path(f"/{LOCATOR.upper()}/My%20Clip.ism/manifest%28format%3Dm3u8-aapl%29".encode())
    assert path.locator_id == LOCATOR and path.is_streaming
    assert path.segments == ("My Clip.ism", "manifest(format=m3u8-aapl)")
    assert not split_path(f"/{LOCATOR}/a/b%C3%BC.mp4".encode()).is_streaming


def test_download_names() -> None:
    assert check_download_name("a/b.mp4") == "a/b.mp4"
    for name in ("x.ism", "X.ISMC", "x.mp4.ovi", "y.mpi"):
        with pytest.raises(errors.NotFoundError):
            check_download_name(name)
    assert content_type_for("a.m4a", "application/octet-stream") == "audio/mp4"
    assert content_type_for("a.mp4", "video/quicktime") == "video/quicktime"


def test_etag_matching() -> None:
    def status(if_none_match: bytes) -> int:
        chosen = select({b"if-none-match": if_none_match}, etag='"b"', last_modified=None,
                        size_bytes=1)  # fmt: skip
        return chosen.status

    assert status(b'"a", "b"') == 304
    assert status(b'W/"b"') == 304
    assert status(b"*") == 304
    assert status(b'"a"') == 200


def test_api_paths() -> None:
    assert is_api_path("/subscriptions/x/resourceGroups/y")
    assert is_api_path("/SUBSCRIPTIONS/x") and is_api_path("/healthz")
    assert is_api_path("/openapi.json") and is_api_path("/docs")
    assert not is_api_path(f"/{LOCATOR}/a.mp4") and not is_api_path("/")


def entry(size: int) -> CachedResponse:
    return CachedResponse(BytesBody(b"x" * size), b"video/mp4", b'"e"')


def test_byte_lru_evicts_least_recently_used() -> None:
    cache: ByteLruCache[str] = ByteLruCache(4 * 1024)
    for key in "abcd":
        cache.put(key, entry(768))  # 1 KiB each with the overhead: exactly full
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("e", entry(768))
    assert cache.size_bytes == cache.max_bytes and len(cache) == 4
    assert cache.get("b") is None and cache.get("a") is not None
    cache.put("huge", entry(2000))  # over a quarter of the budget: not kept
    assert cache.get("huge") is None
    off: ByteLruCache[str] = ByteLruCache(0)
    off.put("a", entry(1))
    assert not off.enabled and off.get("a") is None


def test_memfd_bodies_hold_the_bytes_and_are_released_on_eviction() -> None:
    data = bytes(range(256)) * 1024  # 256 KiB: kept in a memfd
    body = stored_body(data)
    assert isinstance(body, MemfdBody) and body.size == len(data)
    fd = body.fileno()
    assert fd is not None and os.pread(fd, len(data), 0) == data
    assert isinstance(stored_body(b"small"), BytesBody)
    cache: ByteLruCache[str] = ByteLruCache(2 * 1024 * 1024)
    cache.put("a", CachedResponse(body, b"video/mp2t", b'"a"'))
    assert cache.get("a") is not None
    for key in "bcde":
        cache.put(key, CachedResponse(BytesBody(b"x" * 500_000), b"video/mp2t", key.encode()))
    assert cache.get("a") is None  # evicted, and its descriptor closed
    with pytest.raises(OSError):
        os.fstat(fd)


def test_ttl_cache_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("openvod.origin.cache.time.monotonic", lambda: clock[0])
    cache: TtlCache[str, int] = TtlCache(1.0, max_entries=2)
    cache.put("a", 1)
    assert cache.get("a") == 1
    clock[0] += 1.5
    assert cache.get("a") is None
    for key in "xyz":
        cache.put(key, 0)
    assert cache.get("x") is None and cache.get("z") == 0


def publication(**changes: object) -> Publication:
    values: dict[str, object] = {
        "locator_id": LOCATOR, "container": "asset-1", "start": None, "end": None,
        "clear_protocols": frozenset({"hls", "dash"}), "endpoint_running": True,
        "max_cache_age_seconds": None,
    }
    values.update(changes)
    return Publication(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("changes", "protocol", "allowed"), [
    ({}, "hls", True),
    ({}, "smoothStreaming", False),
    ({}, "download", False),
    ({"endpoint_running": False}, "hls", False),
    ({"start": NOW + timedelta(seconds=1)}, "hls", False),
    ({"start": NOW}, "hls", True),
    ({"end": NOW}, "hls", False),  # the window is [start, end)
    ({"end": NOW + timedelta(seconds=1)}, "hls", True),
])
def test_publication_rules(changes: dict[str, object], protocol: str, allowed: bool) -> None:
    pub = publication(**changes)
    if allowed:
        pub.check(protocol, NOW)  # type: ignore[arg-type]
    else:
        with pytest.raises(NotPublishedError):
            pub.check(protocol, NOW)  # type: ignore[arg-type]


def test_locator_ids() -> None:
    assert parse_locator_id(LOCATOR.upper()) == LOCATOR
    assert parse_locator_id("x" * 36) is None and parse_locator_id("") is None


def test_resolver_caches_answers_and_misses() -> None:
    calls: list[str] = []

    def load(locator_id: str) -> Publication | None:
        calls.append(locator_id)
        return publication() if locator_id == LOCATOR else None

    async def scenario() -> None:
        resolver = PublishingResolver(load, ttl_seconds=60, now=lambda: NOW)
        results = await asyncio.gather(*(resolver.resolve(LOCATOR, "hls") for _ in range(5)))
        assert all(r.container == "asset-1" for r in results)
        for _ in range(2):
            with pytest.raises(errors.NotFoundError):
                await resolver.resolve("other", "hls")
        with pytest.raises(NotPublishedError):
            await resolver.resolve(LOCATOR, "download")

    asyncio.run(scenario())
    assert calls == [LOCATOR, "other"]  # one query each: concurrent misses shared one load


def _publication(**changes: object) -> Publication:
    fields: dict[str, object] = {
        "locator_id": LOCATOR, "container": "c", "start": None, "end": None,
        "clear_protocols": frozenset({"dash", "hls"}), "endpoint_running": True,
        "max_cache_age_seconds": None,
    }  # fmt: skip
    fields.update(changes)
    return Publication(**fields)  # type: ignore[arg-type]


def test_routes_are_kept_per_publication_and_refusals_never() -> None:
    table = RouteTable()
    raw = f"/{LOCATOR}/v.ism/QualityLevels(1)/Fragments(video=0,format=mpd-time-cmaf,filter=a)"
    parsed = parse_path(raw.encode())
    with pytest.raises(errors.NotFoundError):  # the publication has no filter "a"
        table.make(raw.encode(), parsed, _publication())
    assert table.get(raw.encode()) is None
    first = _publication(filters={"a": ManifestFilter(start_seconds=2.0)})
    route = table.make(raw.encode(), parsed, first)
    assert table.get(raw.encode()) is route and route.publication is first
    assert route.protocol == "dash" and route.delivery is None
    assert route.chosen == (ManifestFilter(start_seconds=2.0),)
    assert "filter" not in route.tail and route.tail.endswith("format=mpd-time-cmaf)")
    reread = _publication(filters={"a": ManifestFilter(end_seconds=4.0)})
    assert table.make(raw.encode(), parsed, reread).chosen == (ManifestFilter(end_seconds=4.0),)
    manifest = parse_path(f"/{LOCATOR}/v.ism/manifest(format=mpd-time-cmaf)".encode())
    assert table.make(b"m", manifest, first).canonical == "manifest(format=mpd-time-cmaf)"
