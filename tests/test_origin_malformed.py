"""Stored assets that are malformed: clear statuses with a short reason, one log line each.

Every asset here is uploaded as-is into a real server's store (no encoder), published,
and asked for over HTTP as players ask: manifests of every protocol and a segment. A
broken asset answers 404 (a file its .ism lists is missing) or 500 with "The asset is
malformed: ..." and the file named, logs ONE line however often it is asked for, and
never a traceback. An AMS-style .ism without bitrates streams with the MP4s' own.
"""

from __future__ import annotations

import logging
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import m3u8
import pytest

from openvod.encoding.tools import ffprobe
from openvod.storage.movie_files import SIDECAR_SUFFIX
from tests.conftest import ServerHandle, start_server
from tests.origin_support import (
    api,
    count_frames,
    create_locator,
    ensure_account,
    ffmpeg_decode,
    make_ladder,
    set_endpoint,
)

NAME = "movie"  # every asset's manifest is movie.ism
MANIFESTS = ("manifest(format=m3u8-aapl)", "manifest(format=mpd-time-csf)", "manifest",
             "manifest(format=m3u8-cmaf)")  # fmt: skip
SEGMENT = "QualityLevels(400000)/Fragments(video=0,format=m3u8-aapl)"
REPEATS = 20
# An .ism as AMS wrote it for files uploaded as-is: no systemBitrate attributes.
AMS_ISM = """<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="formats" content="mp4" />
  </head>
  <body>
    <switch>
{entries}
    </switch>
  </body>
</smil>
"""


def ams_ism(videos: list[str], audio: str, audio_track: int = 2, video_track: int = 1) -> str:
    """An AMS-style .ism (no bitrates) listing each file's video and one file's audio."""
    entries = [f'      <video src="{v}">\n        <param name="trackID" value="{video_track}" '
               'valuetype="data" />\n      </video>' for v in videos]  # fmt: skip
    entries.append(f'      <audio src="{audio}" title="English">\n        <param name="trackID" '
                   f'value="{audio_track}" valuetype="data" />\n      </audio>')  # fmt: skip
    return AMS_ISM.format(entries="\n".join(entries))


@dataclass(frozen=True)
class Site:
    """The published assets: role -> locator id, and each asset's container."""

    server: ServerHandle
    ladder: list[Path]
    locators: dict[str, str]
    containers: dict[str, str]

    def url(self, role: str, tail: str) -> str:
        return f"{self.server.base_url}/{self.locators[role]}/{NAME}.ism/{tail}"


def _put_asset(server: ServerHandle, role: str, files: dict[str, bytes]) -> str:
    asset = api(server, "PUT", f"/assets/{role}", {"properties": {}})
    container = str(asset["properties"]["container"])
    for name, data in files.items():
        server.ctx.store.put_blob(container, name, data)
    return container


def _assets(ladder: list[Path]) -> dict[str, dict[str, bytes]]:
    """Each test asset's files (no sidecars unless said: as uploaded to AMS)."""
    mp4s = {f"{NAME}_{i}.mp4": f.read_bytes() for i, f in enumerate(ladder)}
    first = mp4s[f"{NAME}_0.mp4"]
    names = list(mp4s)
    ism = ams_ism(names, names[0]).encode()
    moov = first.index(b"moov") - 4
    garbage = bytearray(first)
    garbage[moov + 8 : moov + 4000] = bytes(range(256)) * 15 + bytes(range(112))
    return {
        "nobitrate": {**mp4s, f"{NAME}.ism": ism},
        "truncated": {**mp4s, f"{NAME}_0.mp4": first[: len(first) // 2], f"{NAME}.ism": ism},
        "garbage": {**mp4s, f"{NAME}_0.mp4": bytes(garbage), f"{NAME}.ism": ism},
        "missing": {f"{NAME}_0.mp4": first, f"{NAME}.ism": ism},
        "mismatch": {**mp4s, f"{NAME}.ism": ams_ism(names, names[0], audio_track=1).encode()},
        "notxml": {**mp4s, f"{NAME}.ism": b"<smil><body><switch><video src="},
        "badsidecar": {f"{NAME}.mp4": first, f"{NAME}.mp4{SIDECAR_SUFFIX}": b"OVODIDX\nxx"},
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ladder = make_ladder(tmp_path_factory.mktemp("media"))
    server = start_server(tmp_path_factory.mktemp("data"), None)
    ensure_account(server)
    set_endpoint(server, True)
    locators, containers = {}, {}
    for role, files in _assets(ladder).items():
        containers[role] = _put_asset(server, role, files)
        locators[role] = create_locator(server, role, role, "Predefined_ClearStreamingOnly")
    yield Site(server, ladder, locators, containers)
    server.server.stop()


def _probe_bitrates(path: Path) -> dict[str, int]:
    cmd = [str(ffprobe()), "-v", "error", "-show_entries", "stream=codec_type,bit_rate",
           "-of", "csv=p=0", str(path)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {kind: int(rate) for kind, rate in (line.split(",") for line in out.split())}


def _close(a: int, b: int, tolerance: float = 0.03) -> bool:
    return abs(a - b) <= tolerance * b


def test_ams_ism_without_bitrates_streams_with_the_mp4s_bitrates(site: Site) -> None:
    carried = [_probe_bitrates(f) for f in site.ladder]
    smooth = httpx.get(site.url("nobitrate", "manifest"), timeout=30)
    assert smooth.status_code == 200, smooth.text
    root = ET.fromstring(smooth.content)
    video = sorted(int(q.get("Bitrate", "0")) for i in root.iter("StreamIndex")
                   if i.get("Type") == "video" for q in i.iter("QualityLevel"))  # fmt: skip
    audio = [int(q.get("Bitrate", "0")) for i in root.iter("StreamIndex")
             if i.get("Type") == "audio" for q in i.iter("QualityLevel")]  # fmt: skip
    expected_video = sorted(c["video"] for c in carried)
    assert len(video) == 3 and all(_close(a, b) for a, b in zip(video, expected_video, strict=True))
    assert len(audio) == 1 and _close(audio[0], carried[0]["audio"])
    master_url = site.url("nobitrate", "manifest(format=m3u8-aapl)")
    master = m3u8.loads(httpx.get(master_url, timeout=30).text, uri=master_url)
    variants = [p for p in master.playlists if p.stream_info.resolution]
    assert len(variants) == 3
    for playlist in variants:
        assert count_frames(urljoin(master_url, playlist.uri)) > 0
    ffmpeg_decode(master_url)
    mpd = httpx.get(site.url("nobitrate", "manifest(format=mpd-time-cmaf)"), timeout=30)
    assert mpd.status_code == 200 and b"bandwidth=" in mpd.content


CASES = {  # role -> (status, words the body must hold)
    "truncated": (500, ["The asset is malformed", f"{NAME}_0.mp4"]),
    "garbage": (500, ["The asset is malformed", f"{NAME}_0.mp4"]),
    "missing": (404, ["The asset is incomplete", f"{NAME}_1.mp4"]),
    "mismatch": (500, ["The asset is malformed", "audio"]),
    "notxml": (500, ["The asset is malformed", f"{NAME}.ism"]),
}


@pytest.mark.parametrize("role", sorted(CASES))
def test_malformed_asset_answers_a_reason_and_logs_once(
    site: Site, role: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, words = CASES[role]
    caplog.set_level(logging.INFO)
    with httpx.Client(timeout=30) as client:
        for _ in range(REPEATS):
            for tail in (*MANIFESTS, SEGMENT):
                response = client.get(site.url(role, tail))
                assert response.status_code == status, (tail, response.text)
                assert all(w in response.text for w in words), response.text
                assert "Traceback" not in response.text and "Error(" not in response.text
        head = client.head(site.url(role, MANIFESTS[0]))
        assert head.status_code == status
    container = site.containers[role]
    lines = [r for r in caplog.records if container in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.WARNING
    assert words[1] in lines[0].getMessage() or role == "mismatch"
    assert "Traceback" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


def test_a_bad_sidecar_is_logged_once_and_the_moov_serves(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = site.url("badsidecar", "manifest(format=m3u8-aapl)")
    for _ in range(REPEATS):
        assert httpx.get(url, timeout=30).status_code == 200
    ffmpeg_decode(url)
    lines = [r for r in caplog.records if site.containers["badsidecar"] in r.getMessage()]
    assert len(lines) == 1 and f"{NAME}.mp4{SIDECAR_SUFFIX}" in lines[0].getMessage()
    assert "Traceback" not in caplog.text


def test_a_repaired_asset_streams_again(site: Site) -> None:
    url = site.url("notxml", "manifest(format=m3u8-aapl)")
    assert httpx.get(url, timeout=30).status_code == 500
    names = [f"{NAME}_{i}.mp4" for i in range(3)]
    site.server.ctx.store.put_blob(site.containers["notxml"], f"{NAME}.ism",
                                   ams_ism(names, names[0]).encode())  # fmt: skip
    for _ in range(100):  # revalidation every 2 s: bounded polling
        response = httpx.get(url, timeout=30)
        if response.status_code == 200:
            break
        time.sleep(0.1)
    assert response.status_code == 200
