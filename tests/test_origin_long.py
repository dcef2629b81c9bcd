"""A 2-hour asset: manifests and a segment from its end, without reading the whole file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import m3u8
import mpegdash.parser
import pytest

from openvod.encoding.tools import ffmpeg
from openvod.storage.movie_files import write_sidecar
from tests.conftest import ServerHandle, start_server
from tests.origin_support import create_asset, create_locator, ensure_account, set_endpoint

HOURS = 2


def _read_bytes() -> int:
    """Bytes this process has read through read()/pread() so far (page cache included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


@pytest.fixture(scope="module")
def long_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, str, Path]]:
    folder = tmp_path_factory.mktemp("long")
    gop = folder / "gop.mp4"
    subprocess.run([
        str(ffmpeg()), "-v", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=64x36:rate=25:duration=2",
        "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", "32k", "-f", "mpegts", str(gop.with_suffix(".ts")),
    ], check=True)  # fmt: skip
    long = folder / "long_64x36_30.mp4"
    subprocess.run([
        str(ffmpeg()), "-v", "error", "-y", "-stream_loop", str(HOURS * 1800 - 1),
        "-i", str(gop.with_suffix(".ts")), "-c", "copy", "-movflags", "+faststart", str(long),
    ], check=True)  # fmt: skip
    write_sidecar(long)
    server = start_server(folder / "data", None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "long", [long], None)
    locator = create_locator(server, "long-loc", "long", "Predefined_ClearStreamingOnly")
    yield server, locator, long
    server.server.stop()


def test_two_hour_asset_serves_its_end_cheaply(
    long_site: tuple[ServerHandle, str, Path],
) -> None:
    server, locator, mp4 = long_site
    size = mp4.stat().st_size
    base = f"/{locator}/long_64x36_30.ism"
    before = _read_bytes()
    with server.http() as http:
        mpd_text = http.get(f"{base}/manifest(format=mpd-time-cmaf)").text
        master = m3u8.loads(http.get(f"{base}/manifest(format=m3u8-aapl)").text)
        playlist_url = urljoin(f"{base}/", master.playlists[0].uri)
        video = m3u8.loads(http.get(playlist_url).text)
        last = video.segments[-1]
        segment = http.get(urljoin(playlist_url, last.uri))
    read = _read_bytes() - before
    mpd = mpegdash.parser.MPEGDASHParser.parse(mpd_text)
    # Looping a TS clip makes each loop as long as its audio (a few ms over 2 s).
    duration_s = float(mpd.media_presentation_duration.removeprefix("PT").removesuffix("S"))
    assert HOURS * 3600 <= duration_s <= HOURS * 3600 * 1.02
    assert len(video.segments) == HOURS * 1800
    assert abs(sum(s.duration for s in video.segments) - duration_s) < 1
    assert segment.status_code == 200, (last.uri, segment.text)
    assert len(segment.content) % 188 == 0
    assert len(segment.content) > 0
    # The sidecar index and one segment's samples, never the whole file: this
    # low-bitrate file is only a few times its index, so bound by the index.
    sidecar = mp4.with_name(mp4.name + ".ovi").stat().st_size
    assert read < sidecar + 2 * 1024 * 1024, (read, sidecar, size)
    assert read < size / 2
