"""Helpers for the origin tests: GOP-aligned renditions made with ffmpeg, published via the API.

The media is made with ffmpeg directly (not the encoder) so that the origin
tests do not depend on the worker: three 6-second renditions with a keyframe
every 2 s and AAC audio, moov first, plus their ``.ovi`` sidecars.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from openvod.encoding.tools import ffmpeg, ffprobe
from openvod.media.ism import IsmTrack, ServerManifest, build_ism
from openvod.origin.app import OriginApp
from openvod.storage.movie_files import write_sidecar
from tests.conftest import ServerHandle, free_port

API_VERSION = "2022-08-01"
SECONDS = 6
FPS = 25
FRAMES = SECONDS * FPS
# (size, video bitrate in kbit/s): the .ism's systemBitrate identifies each rendition.
LADDER = (("320x180", 400), ("256x144", 250), ("192x108", 150))
AUDIO_BITRATE = 64_000


def make_rendition(path: Path, size: str, kbps: int, seconds: int = SECONDS) -> Path:
    """One GOP-aligned rendition: keyframes every 2 s exactly, no scene-cut keyframes."""
    cmd = [
        str(ffmpeg()), "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", f"{kbps}k",
        "-force_key_frames", "expr:gte(t,n_forced*2)", "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", str(AUDIO_BITRATE),
        "-movflags", "+faststart", str(path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True)
    return path


def make_ladder(folder: Path, seconds: int = SECONDS) -> list[Path]:
    """The three renditions, each with its sidecar index beside it."""
    files = []
    for size, kbps in LADDER:
        mp4 = make_rendition(folder / f"clip_{size}_{kbps}.mp4", size, kbps, seconds)
        write_sidecar(mp4)
        files.append(mp4)
    return files


def ism_text(files: list[Path]) -> str:
    """A .ism listing each file's video and the first file's audio."""
    tracks = [
        IsmTrack("video", f.name, kbps * 1000, 1)
        for f, (_, kbps) in zip(files, LADDER, strict=True)
    ]
    tracks.append(IsmTrack("audio", files[0].name, AUDIO_BITRATE, 2, "aac_und_2_64"))
    return build_ism(ServerManifest(tuple(tracks)))


def api(server: ServerHandle, method: str, path: str, body: Any = None) -> Any:
    """Call the management API; returns the JSON body (asserts success)."""
    with server.http() as http:
        response = http.request(
            method, f"{server.account_path}{path}?api-version={API_VERSION}", json=body
        )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def ensure_account(server: ServerHandle) -> None:
    """Create the test account (idempotent)."""
    api(server, "PUT", "", {"location": "local"})


def set_endpoint(server: ServerHandle, running: bool) -> None:
    """Start or stop the default streaming endpoint."""
    api(server, "POST", f"/streamingEndpoints/default/{'start' if running else 'stop'}")


def create_asset(server: ServerHandle, name: str, files: list[Path], ism: str | None) -> str:
    """An asset holding ``files`` (and their sidecars, and optionally a .ism); its container."""
    asset = api(server, "PUT", f"/assets/{name}", {"properties": {}})
    container = asset["properties"]["container"]
    store = server.ctx.store
    for mp4 in files:
        store.put_file(container, mp4.name, mp4, content_type="video/mp4")
        sidecar = mp4.with_name(mp4.name + ".ovi")
        if sidecar.exists():
            store.put_file(container, sidecar.name, sidecar)
    if ism is not None:
        store.put_blob(container, f"{files[0].stem}.ism", ism.encode(), content_type="text/xml")
    return str(container)


def create_locator(
    server: ServerHandle,
    name: str,
    asset: str,
    policy: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> str:
    """A streaming locator; returns its id."""
    props: dict[str, Any] = {"assetName": asset, "streamingPolicyName": policy}
    if start is not None:
        props["startTime"] = start.isoformat()
    if end is not None:
        props["endTime"] = end.isoformat()
    body = api(server, "PUT", f"/streamingLocators/{name}", {"properties": props})
    return str(body["properties"]["streamingLocatorId"])


def clear_origin_caches(server: ServerHandle) -> None:
    """Forget cached publishing lookups and open files (so changes show at once)."""
    origin = server.server.root_app.origin
    assert isinstance(origin, OriginApp)
    origin.publishing.clear()
    origin.downloads.clear()


def raw_get(server: ServerHandle, path: str, method: str = "GET") -> tuple[int, bytes]:
    """Send ``path`` exactly as written (httpx would normalise '..' away)."""
    host, port = server.base_url.split("://")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass(frozen=True)
class Probe:
    """What ffprobe counted in a stream."""

    video_frames: int
    audio_frames: int


def ffmpeg_decode(url: str) -> str:
    """Decode every stream of ``url`` to nowhere; returns ffmpeg's error output."""
    cmd = [str(ffmpeg()), "-v", "error", "-i", url,
           "-map", "0", "-f", "null", "-"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr


def count_frames(url: str, stream: str = "v:0") -> int:
    """Decoded frames of one stream of ``url`` (ffprobe -count_frames)."""
    cmd = [str(ffprobe()), "-v", "error", "-select_streams", stream,
           "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "json",
           url]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    streams = json.loads(result.stdout)["streams"]
    assert streams, f"no {stream} stream in {url}: {result.stderr}"
    return int(streams[0]["nb_read_frames"])


def start_origin(server: ServerHandle, workers: int, cache_bytes: int | None) -> tuple[
    subprocess.Popen[bytes], str
]:
    """``openvod origin`` on the server's data folder and a free port (its log beside the
    data); returns the process and the origin's base URL once /healthz answers."""
    port = free_port()
    openvod = Path(sys.executable).with_name("openvod")
    env = dict(os.environ, OPENVOD_LOG_LEVEL="warning")
    if cache_bytes is not None:
        env["OPENVOD_ORIGIN_CACHE_BYTES"] = str(cache_bytes)
    log = (server.ctx.settings.resolved_data_dir / f"origin-{port}.log").open("ab")
    proc = subprocess.Popen(
        [str(openvod), "origin", "--data-dir", str(server.ctx.settings.resolved_data_dir),
         "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_process(proc)
    raise AssertionError("openvod origin did not start")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """TERM, then KILL if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
