"""`openvod origin`: the dedicated origin on openvod's own HTTP server, several processes.

Every segment the dedicated origin serves (sent with sendfile from the source
MP4 or from a memfd in its response cache) must be byte-identical to what the
in-process origin of ``openvod serve`` serves for the same URL, with and
without its cache, for single-track and interleaved MP4s.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import m3u8
import pytest

from openvod.encoding.tools import ffmpeg
from openvod.storage.movie_files import write_sidecar
from tests.conftest import ServerHandle, start_server
from tests.origin_support import (
    create_asset,
    create_locator,
    ensure_account,
    ism_text,
    make_ladder,
    set_endpoint,
    start_origin,
    stop_process,
)

POLICY = "Predefined_DownloadAndClearStreaming"


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry))
    return found


def _split_tracks(files: list[Path], folder: Path) -> tuple[list[Path], str]:
    """The ladder as the encoder writes it: video-only MP4s plus one AAC MP4, and a .ism."""
    out = []
    for mp4 in files:
        video = folder / f"v_{mp4.name}"
        subprocess.run([str(ffmpeg()), "-v", "error", "-y", "-i", str(mp4), "-map", "0:v",
                        "-c", "copy", "-movflags", "+faststart", str(video)], check=True)
        out.append(video)
    audio = folder / "a_audio.mp4"
    subprocess.run([str(ffmpeg()), "-v", "error", "-y", "-i", str(files[0]), "-map", "0:a",
                    "-c", "copy", "-movflags", "+faststart", str(audio)], check=True)
    out.append(audio)
    for mp4 in out:
        write_sidecar(mp4)
    tracks = "".join(
        f'<video src="{v.name}" systemBitrate="{400_000 * (i + 1)}">'
        f'<param name="trackID" value="1" valueType="data" /></video>'
        for i, v in enumerate(out[:-1])
    )
    ism = (
        '<?xml version="1.0" encoding="utf-8"?><smil xmlns="http://www.w3.org/2001/SMIL20/Language">'
        f'<head><meta name="formats" content="mp4" /></head><body><switch>{tracks}'
        f'<audio src="{audio.name}" systemBitrate="64000"><param name="trackID" value="1" '
        'valueType="data" /><param name="trackName" value="aac_und_2_64" valueType="data" />'
        "</audio></switch></body></smil>"
    )
    return out, ism


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, list[str]]]:
    folder = tmp_path_factory.mktemp("proc")
    files = make_ladder(folder)
    split, split_ism = _split_tracks(files, folder)
    server = start_server(folder / "data", None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "multi", files, ism_text(files))
    create_asset(server, "split", split, split_ism)
    bases = []
    for asset, stem in (("multi", files[0].stem), ("split", split[0].stem)):
        locator = create_locator(server, f"{asset}-loc", asset, POLICY)
        bases.append(f"/{locator}/{stem}.ism")
    yield server, bases
    server.server.stop()


@pytest.fixture(scope="module", params=["cache-on", "cache-off"])
def origin(
    request: pytest.FixtureRequest, published: tuple[ServerHandle, list[str]]
) -> Iterator[str]:
    server, _ = published
    proc, url = start_origin(server, 1, None if request.param == "cache-on" else 0)
    yield url
    stop_process(proc)


def _resolve(playlist_path: str, uri: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(playlist_path), uri))


def segment_paths(http: httpx.Client, base: str, fmt: str) -> list[str]:
    """Every init segment and segment of every playlist of an HLS master."""
    master_path = f"{base}/manifest(format={fmt})"
    master = m3u8.loads(http.get(master_path).text)
    playlists = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
    paths: list[str] = []
    for uri in playlists:
        playlist_path = _resolve(master_path, uri)
        playlist = m3u8.loads(http.get(playlist_path).text)
        if playlist.segment_map:
            paths.append(_resolve(playlist_path, playlist.segment_map[0].uri))
        paths += [_resolve(playlist_path, s.uri) for s in playlist.segments]
    return paths


@pytest.mark.parametrize("fmt", ["m3u8-cmaf", "m3u8-aapl", "m3u8-aapl-v3"])
def test_segments_equal_the_in_process_origin(
    published: tuple[ServerHandle, list[str]], origin: str, fmt: str
) -> None:
    server, bases = published
    with server.http() as reference, httpx.Client(base_url=origin, timeout=10) as dedicated:
        for base in bases:
            paths = segment_paths(reference, base, fmt)
            assert len(paths) >= 6
            for path in paths:
                expected = reference.get(path)
                assert expected.status_code == 200, path
                for _ in range(2):  # built, then (cache on) from the response cache
                    got = dedicated.get(path)
                    assert got.status_code == 200, path
                    assert got.headers["content-type"] == expected.headers["content-type"]
                    assert got.headers["etag"] == expected.headers["etag"]
                    assert got.content == expected.content, path


def test_ranges_head_and_not_modified(
    published: tuple[ServerHandle, list[str]], origin: str
) -> None:
    server, bases = published
    with server.http() as reference, httpx.Client(base_url=origin, timeout=10) as dedicated:
        for base in bases:
            paths = segment_paths(reference, base, "m3u8-cmaf")
            fragment = paths[2]
            whole = reference.get(fragment).content
            for start, end in ((0, 9), (5, 2000), (len(whole) - 100, len(whole) - 1)):
                part = dedicated.get(fragment, headers={"Range": f"bytes={start}-{end}"})
                assert part.status_code == 206
                assert part.content == whole[start : end + 1]
                assert part.headers["content-range"] == f"bytes {start}-{end}/{len(whole)}"
            head = dedicated.head(fragment)
            assert head.status_code == 200 and head.content == b""
            assert int(head.headers["content-length"]) == len(whole)
            again = dedicated.get(fragment, headers={"If-None-Match": head.headers["etag"]})
            assert again.status_code == 304 and again.content == b""
            past = dedicated.get(fragment, headers={"Range": f"bytes={len(whole)}-"})
            assert past.status_code == 416


def test_progressive_download_ranges(
    published: tuple[ServerHandle, list[str]], origin: str
) -> None:
    server, bases = published
    locator, ism = bases[1].split("/")[1:]
    name = ism.replace(".ism", ".mp4")
    path = server.ctx.store.local_path(f"asset-{_asset_id(server, 'split')}", name)
    assert path is not None
    data = Path(path).read_bytes()
    with httpx.Client(base_url=origin, timeout=10) as dedicated:
        whole = dedicated.get(f"/{locator}/{name}")
        assert whole.status_code == 200 and whole.content == data
        part = dedicated.get(f"/{locator}/{name}", headers={"Range": "bytes=1000-50999"})
        assert part.status_code == 206 and part.content == data[1000:51000]
        tail = dedicated.get(f"/{locator}/{name}", headers={"Range": "bytes=-500"})
        assert tail.content == data[-500:]


def _asset_id(server: ServerHandle, name: str) -> str:
    from tests.origin_support import api

    container: str = api(server, "GET", f"/assets/{name}")["properties"]["container"]
    return container.removeprefix("asset-")


def test_origin_command_serves_from_several_processes(
    published: tuple[ServerHandle, list[str]],
) -> None:
    server, bases = published
    proc, url = start_origin(server, 2, None)
    try:
        response = httpx.get(f"{url}{bases[0]}/manifest(format=m3u8-cmaf)", timeout=5)
        assert response.status_code == 200
        master = m3u8.loads(response.text)
        assert len(master.playlists) >= 3
        with server.http() as http:
            same = http.get(f"{bases[0]}/manifest(format=m3u8-cmaf)").text
        assert response.text == same  # identical to the in-process origin
        deadline = time.monotonic() + 10
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        children = _children(proc.pid)
        assert len(children) == 2  # the serving processes
        os.kill(children[0], 9)  # a serving process dies: it is replaced, the port keeps serving
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            current = _children(proc.pid)
            if len(current) == 2 and children[0] not in current:
                break
            time.sleep(0.1)
        assert len(_children(proc.pid)) == 2 and children[0] not in _children(proc.pid)
        for _ in range(10):
            assert httpx.get(f"{url}{bases[0]}/manifest(format=m3u8-cmaf)").status_code == 200
    finally:
        stop_process(proc)
    assert _children(proc.pid) == []
