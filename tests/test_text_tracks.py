"""Captions in the streams: ``openvod upload --index``, the asset tracks API (SDK), and the
subtitles HLS and DASH then carry, read by m3u8, ffmpeg, webvtt-py and hls.js in Chromium.

One module-scoped server; the CLI uploads the speech fixture, encodes it with
AdaptiveStreaming and indexes it in one job, attaches the captions as a TextTrack and
publishes the streaming asset. Tests that change tracks come after those that read them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import m3u8
import pytest
import webvtt
from azure.core.exceptions import HttpResponseError
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import AssetTrack, HlsSettings, TextTrack

from openvod.encoding.tools import ffmpeg
from tests.conftest import ACCOUNT, RESOURCE_GROUP, SUBSCRIPTION, ServerHandle, start_server
from tests.indexing_jobs_support import ACC, RG, container
from tests.indexing_support import FIXTURES, clock_millis, normalise_text
from tests.test_api_sdk import sdk_client

KNOWN = json.loads((FIXTURES / "speech.json").read_text())
MPD_NS = "{urn:mpeg:dash:schema:mpd:2011}"


@dataclass(frozen=True)
class Published:
    """The streaming asset the CLI made, and its manifests' base URL."""

    server: ServerHandle
    ams: AzureMediaServices
    asset: str
    ism_base: str  # .../{locator}/{name}.ism/

    def get(self, tail: str) -> httpx.Response:
        return httpx.get(self.ism_base + tail, timeout=30)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ams = sdk_client(server)
    env = dict(os.environ, OPENVOD_TOKEN=server.token, OPENVOD_SERVER=server.base_url,
               OPENVOD_ACCOUNT=ACCOUNT, OPENVOD_SUBSCRIPTION=SUBSCRIPTION,
               OPENVOD_RESOURCE_GROUP=RESOURCE_GROUP, COLUMNS="250",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cli = [sys.executable, "-c", "from openvod.cli import main; main()"]
    account = subprocess.run([*cli, "account", "create", ACCOUNT, "--data-dir",
                              str(server.ctx.settings.resolved_data_dir),
                              "--subscription", SUBSCRIPTION,
                              "--resource-group", RESOURCE_GROUP],
                             env=env, capture_output=True, text=True, timeout=60)
    assert account.returncode == 0, account.stderr
    done = subprocess.run([*cli, "upload", str(FIXTURES / "speech.mp4"), "--asset", "talk",
                           "--index", "--publish", "Predefined_ClearStreamingOnly"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Captions" in done.stdout, done.stdout
    match = re.search(r"(http://\S+\.ism/)manifest\(format=m3u8-cmaf\)", done.stdout)
    assert match, done.stdout
    yield Published(server, ams, "talk-adaptivestreaming", match.group(1))
    server.server.stop()


def test_the_cli_attached_the_captions_as_a_text_track(published: Published) -> None:
    tracks = list(published.ams.tracks.list(RG, ACC, published.asset))
    assert [t.name for t in tracks] == ["captions"]
    track = published.ams.tracks.get(RG, ACC, published.asset, "captions")
    assert isinstance(track.track, TextTrack)
    assert track.track.file_name == "transcript.vtt" and track.track.language_code == "en-US"
    assert track.track.hls_settings.default is True
    assert track.provisioning_state == "Succeeded"


@pytest.mark.parametrize("fmt", ["m3u8-cmaf", "m3u8-aapl"])
def test_hls_master_has_a_subtitles_group(published: Published, fmt: str) -> None:
    response = published.get(f"manifest(format={fmt})")
    assert response.status_code == 200
    assert "TYPE=SUBTITLES" in response.text
    master = m3u8.loads(response.text)
    (subs,) = [m for m in master.media if m.type == "SUBTITLES"]
    assert subs.language == "en-US" and subs.default == "YES" and subs.autoselect == "YES"
    assert master.playlists and all(p.stream_info.subtitles == subs.group_id
                                    for p in master.playlists)
    playlist = m3u8.loads(published.get(subs.uri).text)
    assert playlist.is_endlist and playlist.segments
    assert all(s.uri.endswith(".vtt") for s in playlist.segments)
    assert abs(sum(s.duration for s in playlist.segments) - KNOWN["durationSeconds"]) < 1.0
    first = published.get(urljoin(subs.uri, playlist.segments[0].uri))
    assert first.headers["content-type"].startswith("text/vtt")
    assert "X-TIMESTAMP-MAP=MPEGTS:" in first.text


def test_ffmpeg_reads_the_subtitle_playlist(published: Published, tmp_path: Path) -> None:
    out = tmp_path / "subs.vtt"
    url = published.ism_base + "subtitles/captions/playlist.m3u8"
    done = subprocess.run([str(ffmpeg()), "-v", "error", "-y", "-i", url, str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cues = list(webvtt.read(str(out)))
    text = normalise_text(" ".join(c.text for c in cues))
    assert "weather" in text and "sunny" in text
    starts = [clock_millis(c.start) / 1000 for c in cues]
    third = KNOWN["sentences"][2]["startSeconds"]
    assert min(abs(s - third) for s in starts) <= 1.5, starts


def test_dash_has_a_text_adaptation_set(published: Published) -> None:
    for fmt in ("mpd-time-csf", "mpd-time-cmaf"):
        response = published.get(f"manifest(format={fmt})")
        root = ET.fromstring(response.content)
        sets = root.findall(f".//{MPD_NS}AdaptationSet")
        (text_set,) = [s for s in sets if s.get("contentType") == "text"]
        assert text_set.get("mimeType") == "text/vtt" and text_set.get("lang") == "en-US"
        base = text_set.find(f"{MPD_NS}Representation/{MPD_NS}BaseURL")
        assert base is not None and base.text
        body = httpx.get(urljoin(published.ism_base + "manifest", base.text), timeout=30)
        assert body.status_code == 200
        cues = list(webvtt.from_string(body.text))
        stored = container(published.ams, published.asset, "Read").download_blob(
            "transcript.vtt").readall().decode()
        assert [c.text for c in cues] == [c.text for c in webvtt.from_string(stored)]


def test_smooth_is_unchanged(published: Published) -> None:
    response = published.get("manifest")
    assert response.status_code == 200 and b'Type="text"' not in response.content


def test_hlsjs_exposes_a_text_track_with_cues(published: Published) -> None:
    from tests.player import (
        CHROMIUM,
        LAUNCH_ARGS,
        PAGE_PATH,
        PLAYER_SCRIPTS,
        missing_requirements,
        serve_player_files,
    )

    missing = missing_requirements()
    if missing is not None:
        pytest.skip(f"real-player test: {missing}")
    from playwright.sync_api import sync_playwright

    with serve_player_files() as origin, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS,
                                             headless=True)
        try:
            page = browser.new_page()
            page.goto(origin + PAGE_PATH)
            for script in PLAYER_SCRIPTS["hls"]:
                page.add_script_tag(url=origin + script)
            page.evaluate("c => startPlayer(c)", {
                "player": "hls", "src": published.ism_base + "manifest(format=m3u8-cmaf)",
                "rate": 2.0, "bufferSeconds": 30})
            page.wait_for_function(
                "() => Array.from(document.getElementById('video').textTracks)"
                ".some(t => t.cues && t.cues.length >= 3)", timeout=60_000)
            tracks = page.evaluate("""() => Array.from(document.getElementById('video')
                .textTracks).map(t => ({kind: t.kind, language: t.language, label: t.label,
                cues: Array.from(t.cues || []).map(c => [c.startTime, c.text])}))""")
        finally:
            browser.close()
    (track,) = [t for t in tracks if t["cues"]]
    assert track["kind"] in ("subtitles", "captions") and track["language"] == "en-US"
    first_start, first_text = track["cues"][0]
    assert abs(first_start - KNOWN["sentences"][0]["startSeconds"]) <= 1.5, track["cues"]
    assert "video" in first_text.lower() or "welcome" in first_text.lower(), track["cues"]


def test_a_ttml_track_is_webvtt_in_hls_and_ttml_in_dash(published: Published) -> None:
    ams = published.ams
    poller = ams.tracks.begin_create_or_update(RG, ACC, published.asset, "ttml", AssetTrack(
        track=TextTrack(file_name="transcript.ttml", display_name="TTML captions",
                        hls_settings=HlsSettings(default=False, forced=False))))
    assert poller.result().name == "ttml"
    # (the SDK's LRO result leaves `track` a TrackBase: its deserializer misses the
    # discriminator there, though the body has it; get() reads the TextTrack)
    created = ams.tracks.get(RG, ACC, published.asset, "ttml")
    assert created.track.language_code == "en-US"  # from the file's xml:lang
    master = m3u8.loads(wait_for(published, "manifest(format=m3u8-cmaf)", "TTML captions"))
    (ttml,) = [m for m in master.media if m.name == "TTML captions"]
    playlist = m3u8.loads(published.get(ttml.uri).text)
    segment = published.get(urljoin(ttml.uri, playlist.segments[0].uri)).text
    assert [c.text for c in webvtt.from_string(segment)]
    mpd = ET.fromstring(published.get("manifest(format=mpd-time-cmaf)").content)
    mimes = {s.get("mimeType") for s in mpd.iter(f"{MPD_NS}AdaptationSet")
             if s.get("contentType") == "text"}
    assert mimes == {"text/vtt", "application/ttml+xml"}


def test_hidden_tracks_are_not_listed(published: Published) -> None:
    ams = published.ams
    ams.tracks.begin_update(RG, ACC, published.asset, "ttml", AssetTrack(
        track=TextTrack(player_visibility="Hidden"))).result()
    assert ams.tracks.get(RG, ACC, published.asset, "ttml").track.player_visibility == "Hidden"
    text = wait_for(published, "manifest(format=m3u8-cmaf)", "TTML captions", present=False)
    assert "TYPE=SUBTITLES" in text  # the visible track stays
    assert {t.name for t in ams.tracks.list(RG, ACC, published.asset)} == {"captions", "ttml"}


def test_update_track_data_serves_the_new_text(published: Published) -> None:
    ams = published.ams
    box = container(ams, published.asset)
    old = box.download_blob("transcript.vtt").readall().decode()
    box.upload_blob("transcript.vtt", old + "\n00:00:20.100 --> 00:00:20.900\nZebra update\n",
                    overwrite=True)
    ams.tracks.begin_update_track_data(RG, ACC, published.asset, "captions").result()
    last = m3u8.loads(published.get("subtitles/captions/playlist.m3u8").text).segments[-1]
    deadline = time.monotonic() + 30
    while "Zebra update" not in published.get(f"subtitles/captions/{last.uri}").text:  # noqa
        assert time.monotonic() < deadline, "the new text was never served"
        time.sleep(0.5)


def test_bad_tracks_are_refused(published: Published) -> None:
    ams = published.ams
    with pytest.raises(HttpResponseError) as caught:
        ams.tracks.begin_create_or_update(RG, ACC, published.asset, "nope", AssetTrack(
            track=TextTrack(file_name="missing.vtt"))).result()
    assert caught.value.status_code == 400 and "missing.vtt" in str(caught.value.message)
    with pytest.raises(HttpResponseError) as caught:
        ams.tracks.begin_create_or_update(RG, ACC, published.asset, "nope", AssetTrack(
            track=TextTrack(file_name="movie.mp4"))).result()
    assert caught.value.status_code == 400


def test_deleting_tracks_removes_the_subtitles(published: Published) -> None:
    ams = published.ams
    for name in ("captions", "ttml"):
        ams.tracks.begin_delete(RG, ACC, published.asset, name).result()
    assert list(ams.tracks.list(RG, ACC, published.asset)) == []
    wait_for(published, "manifest(format=m3u8-cmaf)", "TYPE=SUBTITLES", present=False)
    assert published.get("subtitles/captions/playlist.m3u8").status_code == 404


def wait_for(published: Published, tail: str, needle: str, present: bool = True) -> str:
    """A manifest once it does (or no longer does) contain ``needle``: the origin revalidates
    its view of the asset's files every 2 s."""
    deadline = time.monotonic() + 30
    while True:
        text = published.get(tail).text
        if (needle in text) == present:
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.5)
