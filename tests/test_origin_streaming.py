"""The streaming endpoint end to end: real server, real clients (ffmpeg, m3u8, mpegdash).

One module-scoped server publishes a GOP-aligned 3-rendition asset (with a
.ism) and the same files without one (derived presentation). Every protocol
variant is fetched over HTTP and decoded; frame counts must equal the source.
"""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import cast
from urllib.parse import urljoin

import httpx
import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from openvod.clock import utcnow
from openvod.encoding.tools import packager
from openvod.media.index import load_movie
from openvod.media.mp4 import build_init_segment
from openvod.origin.app import OriginApp
from openvod.origin.cache import ByteLruCache
from tests.conftest import ServerHandle, start_server
from tests.origin_support import (
    FRAMES,
    api,
    clear_origin_caches,
    count_frames,
    create_asset,
    create_locator,
    ensure_account,
    ffmpeg_decode,
    ism_text,
    make_ladder,
    raw_get,
    set_endpoint,
)

AUDIO_FRAMES = 283  # AAC frames of 6 s at 48 kHz incl. the encoder's priming frame
BITRATES = (400_000, 250_000, 150_000)
TFXD_UUID = bytes.fromhex("6D1D9B0542D544E680E2141DAFF757B2")


@dataclasses.dataclass(frozen=True)
class Site:
    """The published test content."""

    server: ServerHandle
    files: list[Path]
    locators: dict[str, str]  # role -> locator id

    def url(self, role: str, tail: str, name: str | None = None) -> str:
        """Absolute URL of ``{name}.ism/{tail}`` under the locator of ``role``."""
        stem = name or self.files[0].stem
        return f"{self.server.base_url}/{self.locators[role]}/{stem}.ism/{tail}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    media = tmp_path_factory.mktemp("media")
    files = make_ladder(media)
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "ladder", files, ism_text(files))
    create_asset(server, "derived", files, None)
    api(server, "PUT", "/streamingPolicies/hlsonly", {"properties": {"noEncryption": {
        "enabledProtocols": {"download": False, "dash": False, "hls": True,
                             "smoothStreaming": False}}}})
    now = utcnow()
    locators = {
        "clear": create_locator(server, "clear", "ladder", "Predefined_DownloadAndClearStreaming"),
        "derived": create_locator(server, "derived", "derived", "Predefined_ClearStreamingOnly"),
        "download": create_locator(server, "dl", "ladder", "Predefined_DownloadOnly"),
        "hlsonly": create_locator(server, "hlsonly", "ladder", "hlsonly"),
        "clearkey": create_locator(server, "ck", "ladder", "Predefined_ClearKey"),
        "expired": create_locator(server, "old", "ladder", "Predefined_ClearStreamingOnly",
                                  start=now - timedelta(hours=2), end=now - timedelta(hours=1)),
        "future": create_locator(server, "new", "ladder", "Predefined_ClearStreamingOnly",
                                 start=now + timedelta(hours=1)),
    }
    yield Site(server, files, locators)
    server.server.stop()


def get(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers=headers, timeout=30)


# --- HLS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["m3u8-aapl", "m3u8-aapl-v3", "m3u8-cmaf"])
def test_hls_decodes_with_every_frame(site: Site, fmt: str) -> None:
    master_url = site.url("clear", f"manifest(format={fmt})")
    ffmpeg_decode(master_url)
    master = m3u8.loads(get(master_url).text, uri=master_url)
    assert master.is_variant
    assert sorted(p.stream_info.bandwidth > 0 for p in master.playlists) == [True] * 4
    video = [p for p in master.playlists if p.stream_info.resolution]
    assert len(video) == 3
    for playlist in video:
        url = urljoin(master_url, playlist.uri)
        media = m3u8.loads(get(url).text, uri=url)
        assert media.is_endlist and len(media.segments) == 3
        assert abs(sum(s.duration for s in media.segments) - 6.0) < 0.01
        assert count_frames(url) == FRAMES
    if fmt == "m3u8-aapl-v3":
        assert count_frames(urljoin(master_url, video[0].uri), "a:0") == AUDIO_FRAMES
    else:
        audio_uri = master.media[0].uri
        assert count_frames(urljoin(master_url, audio_uri), "a:0") == AUDIO_FRAMES


@pytest.mark.parametrize("fmt", ["m3u8-aapl", "m3u8-cmaf"])
def test_hls_iframe_playlist(site: Site, fmt: str) -> None:
    url = site.url("clear", f"QualityLevels(400000)/Manifest(video,format={fmt},type=keyframes)")
    playlist = m3u8.loads(get(url).text, uri=url)
    assert playlist.is_i_frames_only and len(playlist.segments) == 3
    assert count_frames(url) == 3


# --- DASH -------------------------------------------------------------------------------------


def dash_segment_urls(mpd_url: str, text: str) -> dict[str, list[str]]:
    """Representation id -> its init URL then media URLs (SegmentTemplate + SegmentTimeline)."""
    mpd = MPEGDASHParser.parse(text)
    result: dict[str, list[str]] = {}
    for adaptation in mpd.periods[0].adaptation_sets:
        for rep in adaptation.representations:
            template = (rep.segment_templates or adaptation.segment_templates)[0]
            times, t = [], 0
            for s in template.segment_timelines[0].Ss:
                t = s.t if s.t is not None else t
                for _ in range((s.r or 0) + 1):
                    times.append(t)
                    t += s.d
            bandwidth = str(rep.bandwidth)

            def fill(pattern: str, time: int | None = None, bandwidth: str = bandwidth) -> str:
                text = pattern.replace("$Bandwidth$", bandwidth)
                return urljoin(mpd_url, text.replace("$Time$", str(time)))

            result[rep.id] = [fill(template.initialization)] + [
                fill(template.media, time) for time in times]
    return result


@pytest.mark.parametrize("fmt", ["mpd-time-csf", "mpd-time-cmaf"])
def test_dash_representations_decode(site: Site, fmt: str, tmp_path: Path) -> None:
    mpd_url = site.url("clear", f"manifest(format={fmt})")
    response = get(mpd_url)
    assert response.headers["content-type"] == "application/dash+xml"
    reps = dash_segment_urls(mpd_url, response.text)
    assert len(reps) == 4
    for rep_id, urls in reps.items():
        assert len(urls) == 4  # init + 3 segments
        target = tmp_path / f"{rep_id}.mp4"
        target.write_bytes(b"".join(get(u).content for u in urls))
        ffmpeg_decode(str(target))
        kind = "a:0" if "aac" in rep_id or "audio" in rep_id else "v:0"
        assert count_frames(str(target), kind) == (AUDIO_FRAMES if kind == "a:0" else FRAMES)


# --- Smooth -----------------------------------------------------------------------------------


def smooth_chunk_times(index: ET.Element) -> list[int]:
    times, t = [], 0
    for chunk in index.findall("c"):
        t = int(chunk.get("t", t))
        for _ in range(int(chunk.get("r", "1"))):
            times.append(t)
            t += int(chunk.get("d", "0"))
    return times


def test_smooth_fragments_decode(site: Site, tmp_path: Path) -> None:
    manifest_url = site.url("clear", "manifest")
    response = get(manifest_url)
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    video = next(s for s in root.findall("StreamIndex") if s.get("Type") == "video")
    times = smooth_chunk_times(video)
    assert len(times) == 3 and times[0] == 0
    # Smooth clients synthesise the init segment from the manifest, in 100 ns units.
    sidecar = site.files[0].with_name(site.files[0].name + ".ovi")
    track = load_movie(sidecar.read_bytes()).track("video")
    assert track is not None
    init = build_init_segment([dataclasses.replace(track, timescale=10_000_000)])
    fragments = []
    for t in times:
        url = urljoin(manifest_url, video.get("Url", "").replace("{bitrate}", "400000")
                      .replace("{start time}", str(t)))
        fragment = get(url).content
        at = fragment.index(TFXD_UUID)
        assert struct.unpack(">Q", fragment[at + 20 : at + 28])[0] == t  # tfxd absolute time
        fragments.append(fragment)
    target = tmp_path / "smooth.mp4"
    target.write_bytes(init + b"".join(fragments))
    ffmpeg_decode(str(target))
    assert count_frames(str(target)) == FRAMES


# --- without a .ism ---------------------------------------------------------------------------


def test_presentation_derived_without_ism(site: Site) -> None:
    master_url = site.url("derived", "manifest(format=m3u8-cmaf)")
    master = m3u8.loads(get(master_url).text, uri=master_url)
    assert len([p for p in master.playlists if p.stream_info.resolution]) == 3
    ffmpeg_decode(master_url)


# --- HTTP for CDNs and browsers -----------------------------------------------------------------


def test_segment_and_manifest_headers(site: Site) -> None:
    base = site.url("clear", "")
    cases = {
        "manifest(format=m3u8-aapl)": "application/vnd.apple.mpegurl",
        "manifest(format=mpd-time-cmaf)": "application/dash+xml",
        "QualityLevels(400000)/Fragments(video=i,format=m3u8-cmaf)": "video/mp4",
        "QualityLevels(64000)/Fragments(aac_und_2_64=0,format=mpd-time-csf)": "audio/mp4",
        "QualityLevels(250000)/Fragments(video=25600,format=m3u8-aapl)": "video/mp2t",
    }
    for tail, content_type in cases.items():
        response = get(base + tail)
        assert response.status_code == 200, tail
        assert response.headers["content-type"].split(";")[0] == content_type
        assert response.headers["access-control-allow-origin"] == "*"
        etag = response.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        if tail.startswith("manifest"):
            assert response.headers["cache-control"] == "public, max-age=2"
        else:
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert get(base + tail, **{"If-None-Match": etag}).status_code == 304
        head = httpx.head(base + tail)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == str(len(response.content))
        assert head.headers["etag"] == etag


def test_segment_ranges(site: Site) -> None:
    url = site.url("clear", "QualityLevels(250000)/Fragments(video=0,format=mpd-time-csf)")
    whole = get(url)
    part = get(url, Range="bytes=100-199")
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert get(url, Range=f"bytes={len(whole.content)}-").status_code == 416
    stale = get(url, Range="bytes=0-9", **{"If-Range": '"stale"'})
    assert stale.status_code == 200 and stale.content == whole.content
    huge, size = "9" * 5000, len(whole.content)
    past = get(url, Range=f"bytes={huge}-")
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    to_end = get(url, Range=f"bytes=0-{huge}")
    assert to_end.status_code == 206 and to_end.content == whole.content
    assert get(url, Range=f"bytes={huge}-1").content == whole.content  # invalid: ignored
    etag = whole.headers["etag"]
    assert get(url, **{"If-Match": '"stale"'}).status_code == 412
    assert get(url, **{"If-Match": etag, "If-None-Match": etag}).status_code == 304


def test_cors_preflight(site: Site) -> None:
    response = httpx.options(site.url("clear", "manifest(format=m3u8-aapl)"), headers={
        "Origin": "https://player.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "GET" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "range"
    assert httpx.post(site.url("clear", "manifest")).status_code == 405


def test_response_cache_serves_identical_bytes(site: Site) -> None:
    origin = cast(OriginApp, site.server.server.root_app.origin)
    tail = "QualityLevels(150000)/Fragments(video=51200,format=mpd-time-cmaf)"
    first, second = get(site.url("clear", tail)), get(site.url("clear", tail))
    assert first.content == second.content and origin.responses.hits >= 1
    saved = origin.responses
    origin.responses = ByteLruCache(0)  # cache off: built on every request
    try:
        assert get(site.url("clear", tail)).content == first.content
        assert len(origin.responses) == 0
    finally:
        origin.responses = saved


# --- publishing rules -------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "tail", "status"), [
    ("clear", "manifest(format=m3u8-aapl)", 200),
    ("download", "manifest(format=m3u8-aapl)", 404),  # policy enables download only
    ("hlsonly", "manifest(format=m3u8-aapl)", 200),
    ("hlsonly", "manifest(format=mpd-time-csf)", 404),
    ("hlsonly", "manifest", 404),
    ("hlsonly", "QualityLevels(400000)/Fragments(video=0,format=mpd-time-csf)", 404),
    ("clearkey", "manifest(format=m3u8-aapl)", 200),  # AES-128 (test_origin_encryption)
    ("clearkey", "manifest", 400),  # Smooth cannot carry AES-128 here
    ("clear", "manifest(format=m3u8-aapl,encryption=cbc)", 404),
    ("expired", "manifest(format=m3u8-aapl)", 404),
    ("future", "manifest(format=m3u8-aapl)", 404),
    ("clear", "QualityLevels(400000)/Fragments(video=12345,format=m3u8-cmaf)", 404),
    ("clear", "QualityLevels(999)/Fragments(video=0,format=m3u8-cmaf)", 404),
    ("clear", "QualityLevels(abc)/Fragments(video=0,format=m3u8-cmaf)", 400),
    ("clear", "QualityLevels(400000)/Fragments(video=0,format=bogus)", 400),
    ("clear", "nonsense", 400),
])
def test_publishing_rules(site: Site, role: str, tail: str, status: int) -> None:
    assert get(site.url(role, tail)).status_code == status


def test_unknown_names_are_404(site: Site) -> None:
    assert get(site.url("clear", "manifest", name="nosuch")).status_code == 404
    unknown = "00000000-0000-0000-0000-000000000000"
    assert get(f"{site.server.base_url}/{unknown}/x.ism/manifest").status_code == 404
    assert get(f"{site.server.base_url}/not-a-guid/x.ism/manifest").status_code == 404
    assert get(f"{site.server.base_url}/").status_code == 404


def test_stopped_endpoint_serves_nothing(site: Site) -> None:
    url = site.url("clear", "manifest(format=m3u8-cmaf)")
    download = f"{site.server.base_url}/{site.locators['clear']}/{site.files[0].name}"
    set_endpoint(site.server, False)
    clear_origin_caches(site.server)
    try:
        assert get(url).status_code == 404
        assert get(download).status_code == 404
    finally:
        set_endpoint(site.server, True)
        clear_origin_caches(site.server)
    assert get(url).status_code == 200


@pytest.mark.parametrize("tail", [
    "/../x.mp4", "/%2e%2e/x.mp4", "/%2E%2E/%2e%2e/etc/passwd", "/a%2Fb.mp4",
    "/..%2f..%2fetc%2fpasswd", "/x.ism/..%5c..%5cmanifest", "//x.mp4", "/./x.mp4",
    "/%ff.mp4",
])
def test_paths_cannot_escape_the_asset(site: Site, tail: str) -> None:
    status, _ = raw_get(site.server, "/" + site.locators["clear"] + tail)
    assert status in (400, 404)
    status, _ = raw_get(site.server, "/" + site.locators["clear"] + "/.." + tail)
    assert status in (400, 404)


def _timeline_seconds(mpd_text: str, kind: str) -> list[float]:
    """Segment start times (s) of the first Representation of ``kind`` in an MPD."""
    mpd = MPEGDASHParser.parse(mpd_text)
    for adaptation in mpd.periods[0].adaptation_sets:
        content = adaptation.content_type or adaptation.mime_type or ""
        if kind not in content:
            continue
        template = adaptation.segment_templates or adaptation.representations[0].segment_templates
        timescale = int(template[0].timescale)
        starts, t = [], 0
        for s in template[0].segment_timelines[0].Ss:
            t = int(s.t) if s.t is not None else t
            for _ in range(1 + int(s.r or 0)):
                starts.append(round(t / timescale, 3))
                t += int(s.d)
        return starts
    raise AssertionError(f"no {kind} adaptation set")


def test_segment_boundaries_equal_shaka_packager(site: Site, tmp_path: Path) -> None:
    """Shaka Packager, packaging the same MP4, cuts video segments at the same times."""
    source = site.files[0]
    subprocess.run([
        str(packager()),
        f"in={source},stream=video,init_segment={tmp_path}/v_init.mp4,"
        f"segment_template={tmp_path}/v_$Number$.m4s",
        "--segment_duration", "2", "--mpd_output", str(tmp_path / "shaka.mpd"),
    ], check=True, capture_output=True)  # fmt: skip
    shaka = _timeline_seconds((tmp_path / "shaka.mpd").read_text(), "video")
    ours_text = httpx.get(site.url("clear", "manifest(format=mpd-time-cmaf)")).text
    ours = _timeline_seconds(ours_text, "video")
    assert ours == shaka and len(ours) == 3
