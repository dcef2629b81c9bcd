"""Dynamic manifest filters end to end: filters made with the SDK, manifests and segments
fetched over HTTP, parsed (m3u8, mpegdash) and decoded (ffmpeg)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import m3u8
import pytest
from azure.mgmt.media.models import (
    AccountFilter,
    AssetFilter,
    FilterTrackPropertyCondition,
    FilterTrackSelection,
    FirstQuality,
    PresentationTimeRange,
)
from mpegdash.parser import MPEGDASHParser

from tests.conftest import ACCOUNT, RESOURCE_GROUP, ServerHandle, start_server
from tests.origin_support import (
    FPS,
    api,
    count_frames,
    create_asset,
    create_locator,
    ensure_account,
    ism_text,
    make_ladder,
    set_endpoint,
)
from tests.test_api_sdk import sdk_client
from tests.test_origin_streaming import dash_segment_urls

SECONDS = 20
START, END = 5.0, 15.0  # the time filter's span
SEGMENT = 2.0  # the ladder's keyframe interval
HNS = 10_000_000


@dataclasses.dataclass(frozen=True)
class Site:
    server: ServerHandle
    stem: str
    locators: dict[str, str]

    def url(self, role: str, tail: str) -> str:
        return f"{self.server.base_url}/{self.locators[role]}/{self.stem}.ism/{tail}"


def _condition(prop: str, value: str, operation: str = "Equal") -> FilterTrackPropertyCondition:
    return FilterTrackPropertyCondition(property=prop, value=value, operation=operation)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    files = make_ladder(tmp_path_factory.mktemp("media"), SECONDS)
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "long", files, ism_text(files))
    ams = sdk_client(server)
    window = PresentationTimeRange(start_timestamp=int(START * HNS), end_timestamp=int(END * HNS),
                                   timescale=HNS, force_end_timestamp=False)
    ams.asset_filters.create_or_update(RESOURCE_GROUP, ACCOUNT, "long", "middle",
                                       AssetFilter(presentation_time_range=window))
    low = [FilterTrackSelection(track_selections=[_condition("Type", "Video"),
                                                  _condition("Bitrate", "0-300000")]),
           FilterTrackSelection(track_selections=[_condition("Type", "Audio")])]
    ams.account_filters.create_or_update(RESOURCE_GROUP, ACCOUNT, "low", AccountFilter(tracks=low))
    ams.account_filters.create_or_update(RESOURCE_GROUP, ACCOUNT, "start250", AccountFilter(
        first_quality=FirstQuality(bitrate=250_000)))
    not400 = [FilterTrackSelection(track_selections=[
        _condition("FourCC", "avc1"), _condition("Bitrate", "400000", "NotEqual")]),
        FilterTrackSelection(track_selections=[_condition("Type", "Audio"),
                                               _condition("Language", "und")])]
    ams.account_filters.create_or_update(RESOURCE_GROUP, ACCOUNT, "not400",
                                         AccountFilter(tracks=not400))
    ams.account_filters.create_or_update(RESOURCE_GROUP, ACCOUNT, "videoonly", AccountFilter(
        tracks=[FilterTrackSelection(track_selections=[_condition("Type", "Audio", "NotEqual")])]))
    locators = {"clear": create_locator(server, "clear", "long",
                                        "Predefined_ClearStreamingOnly")}
    body = api(server, "PUT", "/streamingLocators/lowonly", {"properties": {
        "assetName": "long", "streamingPolicyName": "Predefined_ClearStreamingOnly",
        "filters": ["low"]}})
    locators["lowonly"] = body["properties"]["streamingLocatorId"]
    yield Site(server, files[0].stem, locators)
    server.server.stop()


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


def _master(site: Site, modifiers: str, role: str = "clear") -> tuple[str, m3u8.M3U8]:
    url = site.url(role, f"manifest({modifiers})")
    response = get(url)
    assert response.status_code == 200, response.text
    return url, m3u8.loads(response.text, uri=url)


def _video_playlists(master: m3u8.M3U8) -> list[m3u8.Playlist]:
    return [p for p in master.playlists if p.stream_info.resolution]


def _media(master_url: str, playlist: m3u8.Playlist) -> tuple[str, m3u8.M3U8]:
    url = urljoin(master_url, playlist.uri)
    response = get(url)
    assert response.status_code == 200, response.text
    return url, m3u8.loads(response.text, uri=url)


def _mpd_seconds(text: str) -> list[float]:
    """Per video Representation set: the SegmentTimeline's total seconds."""
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    totals = []
    for template in ET.fromstring(text).iterfind(".//d:SegmentTemplate", ns):
        scale = int(template.get("timescale", "1"))
        ticks = sum(int(s.get("d", "0")) * (int(s.get("r", "0")) + 1)
                    for s in template.iterfind(".//d:S", ns))
        totals.append(ticks / scale)
    return totals


def test_time_filter_trims_hls_to_whole_segments(site: Site) -> None:
    full_url, full = _master(site, "format=m3u8-cmaf")
    url, master = _master(site, "format=m3u8-cmaf,filter=middle")
    assert len(_video_playlists(master)) == len(_video_playlists(full)) == 3
    _, full_media = _media(full_url, _video_playlists(full)[0])
    _, media = _media(url, _video_playlists(master)[0])
    total = sum(s.duration for s in media.segments)
    assert abs(sum(s.duration for s in full_media.segments) - SECONDS) < SEGMENT
    assert END - START <= total <= END - START + 2 * SEGMENT + 0.1
    frames = count_frames(url)
    assert (END - START) * FPS <= frames <= (END - START + 2 * SEGMENT) * FPS


def test_time_filter_trims_dash(site: Site, tmp_path: Path) -> None:
    url = site.url("clear", "manifest(format=mpd-time-cmaf,filter=middle)")
    response = get(url)
    assert response.status_code == 200, response.text
    for seconds in _mpd_seconds(response.text):
        assert END - START <= seconds <= END - START + 2 * SEGMENT + 0.1
    mpd = MPEGDASHParser.parse(response.text)
    assert mpd.media_presentation_duration
    urls = dash_segment_urls(url, response.text)["video_400000"]
    target = tmp_path / "video.mp4"  # init + every segment, as a player appends them
    target.write_bytes(b"".join(get(u).content for u in urls))
    frames = count_frames(str(target))
    assert (END - START) * FPS <= frames <= (END - START + 2 * SEGMENT) * FPS


def test_time_filter_trims_smooth(site: Site) -> None:
    full = ET.fromstring(get(site.url("clear", "manifest")).text)
    response = get(site.url("clear", "manifest(filter=middle)"))
    assert response.status_code == 200, response.text
    trimmed = ET.fromstring(response.text)
    seconds = [sum(int(c.get("d", "0")) * int(c.get("r", "1")) for c in
                   root.find("StreamIndex[@Type='video']").iterfind("c")) / HNS  # type: ignore[union-attr]
               for root in (full, trimmed)]
    assert abs(seconds[0] - SECONDS) < SEGMENT
    assert END - START <= seconds[1] <= END - START + 2 * SEGMENT + 0.1


def test_bitrate_filter_drops_the_top_rung(site: Site) -> None:
    _, master = _master(site, "format=m3u8-cmaf,filter=low")
    assert len(_video_playlists(master)) == 2
    assert all("QualityLevels(400000)" not in p.uri for p in master.playlists)
    assert master.media, "the audio group is kept"
    response = get(site.url("clear", "manifest(format=mpd-time-cmaf,filter=low)"))
    mpd = MPEGDASHParser.parse(response.text)
    sets = mpd.periods[0].adaptation_sets
    video = [s for s in sets if (s.content_type or s.mime_type or "").startswith("video")]
    assert [len(s.representations) for s in video] == [2]
    assert any((s.content_type or s.mime_type or "").startswith("audio") for s in sets)


def test_asset_and_account_filters_combine(site: Site) -> None:
    url, master = _master(site, "format=m3u8-cmaf,filter=middle;low")
    assert len(_video_playlists(master)) == 2
    _, media = _media(url, _video_playlists(master)[0])
    assert END - START <= sum(s.duration for s in media.segments) <= END - START + 2 * SEGMENT + .1


def test_first_quality_leads_the_master(site: Site) -> None:
    _, master = _master(site, "format=m3u8-cmaf,filter=start250")
    assert "QualityLevels(250000)" in _video_playlists(master)[0].uri
    _, plain = _master(site, "format=m3u8-cmaf")
    assert "QualityLevels(400000)" in _video_playlists(plain)[0].uri


def test_locator_filters_apply_to_every_manifest(site: Site) -> None:
    _, master = _master(site, "format=m3u8-cmaf", role="lowonly")
    assert len(_video_playlists(master)) == 2
    assert all("filter=" not in p.uri for p in master.playlists)


def test_unknown_filter_is_404(site: Site) -> None:
    assert get(site.url("clear", "manifest(format=m3u8-cmaf,filter=nosuch)")).status_code == 404
    assert get(site.url("clear", "manifest(filter=middle;nosuch)")).status_code == 404
    fragment = "QualityLevels(400000)/Fragments(video=0,format=m3u8-cmaf,filter=nosuch)"
    assert get(site.url("clear", fragment)).status_code == 404


def test_filtered_segments_are_the_unfiltered_bytes(site: Site) -> None:
    url, master = _master(site, "format=m3u8-cmaf,filter=middle")
    media_url, media = _media(url, _video_playlists(master)[0])
    assert media.segments
    for segment in (media.segments[0], media.segments[-1]):
        filtered = urljoin(media_url, segment.uri)
        assert "filter=middle" in filtered
        plain = filtered.replace(",filter=middle", "")
        first, second = get(filtered), get(plain)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content


def test_not_equal_fourcc_and_language_selections(site: Site) -> None:
    _, master = _master(site, "format=m3u8-cmaf,filter=not400")
    uris = [p.uri for p in _video_playlists(master)]
    assert len(uris) == 2 and not any("QualityLevels(400000)" in u for u in uris)
    assert master.media, "audio in language 'und' is kept"
    _, video_only = _master(site, "format=m3u8-cmaf,filter=videoonly")
    assert len(_video_playlists(video_only)) == 3
    assert not video_only.media and all("aac" not in p.uri for p in video_only.playlists)
