"""Segment URLs that carry their real extension, read by ffmpeg 8 with its default flags.

ffmpeg >= 7.1 refuses HLS segments whose URL path has no known extension
(``allowed_segment_extensions``, ``extension_picky`` on by default). The
manifests now name every child with its real extension (``.m3u8``, ``.ts``,
``.mp4`` init, ``.m4s``); the extension-less AMS forms keep answering the same
bytes. No test here passes ``-extension_picky 0`` or ``-allowed_extensions``.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from openvod.encoding.tools import ffmpeg
from tests.conftest import ServerHandle, start_server
from tests.origin_support import (
    FRAMES,
    count_frames,
    create_asset,
    create_locator,
    ensure_account,
    ffmpeg_decode,
    ism_text,
    make_ladder,
    set_endpoint,
)

HLS_FORMATS = ("m3u8-aapl", "m3u8-aapl-v3", "m3u8-cmaf")
EXTENSION = re.compile(r"\.(m3u8|ts|mp4|m4s)$")


@dataclasses.dataclass(frozen=True)
class Published:
    """One published ladder: the URL of its ``{name}.ism/``."""

    server: ServerHandle
    base: str


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    files = make_ladder(tmp_path_factory.mktemp("media"))
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "ladder", files, ism_text(files))
    locator = create_locator(server, "clear", "ladder", "Predefined_ClearStreamingOnly")
    yield Published(server, f"{server.base_url}/{locator}/{files[0].stem}.ism/")
    server.server.stop()


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


def child_urls(master_url: str) -> tuple[list[str], list[str]]:
    """(every playlist URL the master lists, every segment and init URL in them)."""
    master = m3u8.loads(get(master_url).text, uri=master_url)
    playlists = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
    playlists += [i.uri for i in master.iframe_playlists]
    segments: list[str] = []
    for uri in playlists:
        url = urljoin(master_url, uri)
        media = m3u8.loads(get(url).text, uri=url)
        segments += [urljoin(url, m.uri) for m in media.segment_map]
        segments += [urljoin(url, s.uri) for s in media.segments]
    return [urljoin(master_url, u) for u in playlists], segments


@pytest.mark.parametrize("fmt", HLS_FORMATS)
def test_every_hls_url_carries_its_extension(published: Published, fmt: str) -> None:
    playlists, segments = child_urls(published.base + f"manifest(format={fmt})")
    assert playlists and all(u.endswith(".m3u8") for u in playlists)
    expected = {".ts"} if fmt != "m3u8-cmaf" else {".mp4", ".m4s"}
    assert {Path(u).suffix for u in segments} == expected
    for url in segments[:3] + segments[-3:]:
        assert get(url).status_code == 200, url


@pytest.mark.parametrize("fmt", HLS_FORMATS)
def test_plain_ffmpeg_reads_hls(published: Published, fmt: str) -> None:
    """`ffmpeg -i URL -f null -` and ffprobe, default flags, every variant and I-frame list."""
    master_url = published.base + f"manifest(format={fmt})"
    ffmpeg_decode(master_url)
    master = m3u8.loads(get(master_url).text, uri=master_url)
    for variant in master.playlists:
        if variant.stream_info.resolution:
            assert count_frames(urljoin(master_url, variant.uri)) == FRAMES
    for iframes in master.iframe_playlists:  # m3u8-aapl and m3u8-cmaf
        assert count_frames(urljoin(master_url, iframes.uri)) == 3
    assert len(master.iframe_playlists) == (0 if fmt == "m3u8-aapl-v3" else 3)


def test_ffmpeg_still_refuses_extensionless_segments(published: Published, tmp_path: Path) -> None:
    """The control: the AMS forms alone are refused by this ffmpeg, so the tests above
    would fail if the manifests went back to them."""
    playlist = tmp_path / "ams.m3u8"
    segment = published.base + "QualityLevels(400000)/Fragments(video=0,format=m3u8-aapl)"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        f"#EXTINF:2.0,\n{segment}\n#EXT-X-ENDLIST\n"
    )
    done = subprocess.run(
        [str(ffmpeg()), "-v", "error", "-protocol_whitelist", "file,http,tcp",
         "-i", str(playlist), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0 and "allowed_segment_extensions" in done.stderr
    with_extension = playlist.read_text().replace(segment, segment + ".ts")
    playlist.write_text(with_extension)
    done = subprocess.run(
        [str(ffmpeg()), "-v", "error", "-protocol_whitelist", "file,http,tcp",
         "-i", str(playlist), "-f", "null", "-"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("tail", "extension", "content_type"),
    [
        ("QualityLevels(400000)/Fragments(video=25600,format=m3u8-aapl)", ".ts", "video/mp2t"),
        ("QualityLevels(64000)/Fragments(aac_und_2_64=0,format=m3u8-aapl)", ".ts", "video/mp2t"),
        ("QualityLevels(400000)/Fragments(video=0,format=m3u8-aapl,type=keyframes)", ".ts",
         "video/mp2t"),
        ("QualityLevels(400000)/Fragments(video=i,format=m3u8-cmaf)", ".mp4", "video/mp4"),
        ("QualityLevels(400000)/Fragments(video=25600,format=m3u8-cmaf)", ".m4s", "video/mp4"),
        ("QualityLevels(64000)/Fragments(aac_und_2_64=i,format=mpd-time-csf)", ".mp4",
         "audio/mp4"),
        ("QualityLevels(250000)/Fragments(video=0,format=mpd-time-cmaf)", ".m4s", "video/mp4"),
        ("QualityLevels(400000)/Manifest(video,format=m3u8-aapl)", ".m3u8",
         "application/vnd.apple.mpegurl"),
    ],
)
def test_ams_form_answers_the_same_bytes(
    published: Published, tail: str, extension: str, content_type: str
) -> None:
    ams, named = get(published.base + tail), get(published.base + tail + extension)
    assert ams.status_code == named.status_code == 200
    assert named.content == ams.content and len(ams.content) > 100
    assert named.headers["content-type"].split(";")[0] == content_type
    if extension != ".m3u8":
        assert named.headers["cache-control"] == "public, max-age=31536000, immutable"
        # both spellings are one segment: one response-cache entry, one ETag
        assert named.headers["etag"] == ams.headers["etag"]
    upper = get(published.base + tail + extension.upper())
    assert upper.status_code == 200 and upper.content == ams.content


@pytest.mark.parametrize(
    ("tail", "status"),
    [
        ("QualityLevels(400000)/Fragments(video=0,format=m3u8-aapl).m4s", 400),
        ("QualityLevels(400000)/Fragments(video=0,format=m3u8-cmaf).ts", 400),
        ("QualityLevels(400000)/Fragments(video=i,format=m3u8-cmaf).m4s", 400),
        ("QualityLevels(400000)/Fragments(video=0,format=m3u8-aapl).mp4", 400),
        ("QualityLevels(400000)/Fragments(video=0).ts", 400),
        ("QualityLevels(400000)/Manifest(video,format=m3u8-aapl).mpd", 400),
        ("QualityLevels(400000)/Fragments(video=0,format=m3u8-aapl).exe", 400),
        # .vtt is for text tracks; this video rendition is not one
        ("QualityLevels(400000)/Fragments(video=0,format=m3u8-aapl).vtt", 404),
    ],
)
def test_wrong_extensions_are_refused(published: Published, tail: str, status: int) -> None:
    get(published.base + tail.rsplit(".", 1)[0])  # the AMS form answered (and cached) first
    assert get(published.base + tail).status_code == status


def test_dash_templates_carry_extensions(published: Published, tmp_path: Path) -> None:
    """SegmentTemplate initialization/media end in .mp4/.m4s; the expanded URLs decode."""
    for fmt in ("mpd-time-csf", "mpd-time-cmaf"):
        mpd_url = published.base + f"manifest(format={fmt})"
        mpd = MPEGDASHParser.parse(get(mpd_url).text)
        for adaptation in mpd.periods[0].adaptation_sets:
            template = adaptation.segment_templates[0]
            assert template.initialization.endswith(").mp4")
            assert template.media.endswith(").m4s")
        video = mpd.periods[0].adaptation_sets[0]
        template = video.segment_templates[0]
        rep = video.representations[0]
        timeline = template.segment_timelines[0].Ss
        times = [timeline[0].t]
        for s in timeline:
            for _ in range((s.r or 0) + 1):
                times.append(times[-1] + s.d)
        urls = [template.initialization.replace("$Bandwidth$", str(rep.bandwidth))]
        urls += [
            template.media.replace("$Bandwidth$", str(rep.bandwidth)).replace("$Time$", str(t))
            for t in times[:-1]
        ]
        target = tmp_path / f"{fmt}.mp4"
        target.write_bytes(b"".join(get(urljoin(mpd_url, u)).content for u in urls))
        assert count_frames(str(target)) == FRAMES
