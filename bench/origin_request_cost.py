"""Per-request CPU of the origin's shared request path, measured in one process.

``bench/origin.py`` measures the origin under ``wrk`` beside nginx; on a shared machine
its req/s wander with the neighbours. This harness measures what one request costs
the serving process itself, with no load generator: it publishes a small ladder (the
origin tests' 6-s clips, three video rungs and AAC, in ``bench/origin.py``'s ``tracks``
layout) through ``openvod serve``, builds
the app exactly as ``openvod origin`` does (``app_from_environment``), serves it with
openvod's HTTP server on a loopback port in this process, and sends N identical
keep-alive requests from a plain socket on the same event loop, one after the other.
``time.process_time`` over those N requests (min of the repeats) divided by N is the
CPU per request, client included (a fixed ~10-15 us: ``sock_sendall`` and
``sock_recv``). Under ``valgrind --tool=callgrind --dump-before=os_getppid`` each measured loop is
one dump between two ``os.getppid()`` marks: its instruction count divided by N is a
noise-free cost per request (``bench/callgrind_parts.py`` reads the dumps).
``--mode asgi`` calls the app alone (no server, no socket), to split the
cost between the server and the app; ``--profile`` prints cProfile's view instead.

It imports only what every openvod version since the origin's first session has
(``tests.conftest.start_server``, ``tests.origin_support``, ``origin_process``,
``httpd.server.serve``), so the same file measures an older checkout::

    PYTHONPATH=$PWD .venv/bin/python bench/origin_request_cost.py setup /tmp/cost-new
    PYTHONPATH=$PWD .venv/bin/python bench/origin_request_cost.py measure /tmp/cost-new
    git worktree add --detach ../before b2e3d33
    PYTHONPATH=../before .venv/bin/python bench/origin_request_cost.py setup /tmp/cost-old
    PYTHONPATH=../before .venv/bin/python bench/origin_request_cost.py measure /tmp/cost-old
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import re
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

KINDS = ("mpd", "fmp4-off", "fmp4-on", "ts-off", "ts-on")


def setup(data_dir: Path) -> None:
    """Publish the origin tests' ladder into ``data_dir``; writes ``paths.json`` beside it."""
    from bench.origin_media import dash_paths  # in every version this bench measures
    from tests.conftest import start_server
    from tests.origin_support import (
        create_asset,
        create_locator,
        ensure_account,
        make_ladder,
        set_endpoint,
    )

    media = data_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    files, ism = _tracks_layout(make_ladder(media))
    server = start_server(data_dir, None)
    try:
        ensure_account(server)
        set_endpoint(server, True)
        create_asset(server, "ladder", files, ism)
        locator = create_locator(server, "clear", "ladder", "Predefined_ClearStreamingOnly")
        base = f"/{locator}/{files[0].stem}.ism/"
        with server.http() as http:

            def text(path: str) -> str:
                response = http.get(server.base_url + path)
                assert response.status_code == 200, (path, response.status_code)
                return response.text

            mpd = base + "manifest(format=mpd-time-cmaf)"
            fmp4 = [p for p in dash_paths(mpd, text(mpd).encode()) if "=i," not in p]
            ts = _hls_segments(text, base + "manifest(format=m3u8-aapl)")
    finally:
        server.server.stop()
    paths = {"mpd": mpd, "fmp4": fmp4[1], "ts": ts[1]}
    (data_dir / "paths.json").write_text(json.dumps(paths))
    print(json.dumps(paths, indent=1))


def _tracks_layout(interleaved: list[Path]) -> tuple[list[Path], str]:
    """bench/origin.py's ``tracks`` layout (as openvod's encoder writes): video-only MP4s
    and one AAC-only MP4, each a single run of samples per segment (sent by sendfile)."""
    from openvod.encoding.tools import ffmpeg
    from openvod.media.ism import IsmTrack, ServerManifest, build_ism
    from openvod.storage.movie_files import write_sidecar
    from tests.origin_support import AUDIO_BITRATE, LADDER

    def split(source: Path, target: Path, keep: str) -> Path:
        subprocess.run(
            [
                str(ffmpeg()),
                "-v",
                "error",
                "-y",
                "-i",
                str(source),
                "-map",
                keep,
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                str(target),
            ],
            check=True,
        )
        write_sidecar(target)
        return target

    videos = [split(f, f.with_name(f"video_{f.name}"), "0:v") for f in interleaved]
    audio = split(interleaved[0], interleaved[0].with_name("audio.mp4"), "0:a")
    tracks = [
        IsmTrack("video", f.name, kbps * 1000, 1)
        for f, (_, kbps) in zip(videos, LADDER, strict=True)
    ]
    tracks.append(IsmTrack("audio", audio.name, AUDIO_BITRATE, 1, "aac_und_2_64"))
    return [*videos, audio], build_ism(ServerManifest(tuple(tracks)))


def _hls_segments(text: Callable[[str], str], master: str) -> list[str]:
    lines = [ln for ln in text(master).splitlines() if ln and not ln.startswith("#")]
    playlist = urljoin(master, lines[0])
    return [urljoin(playlist, ln) for ln in text(playlist).splitlines()
            if ln and not ln.startswith("#")]  # fmt: skip


def _app(data_dir: Path, cache_on: bool) -> Any:
    os.environ["OPENVOD_DATA_DIR"] = str(data_dir)
    os.environ["OPENVOD_LOG_LEVEL"] = "warning"
    if cache_on:
        os.environ.pop("OPENVOD_ORIGIN_CACHE_BYTES", None)
    else:
        os.environ["OPENVOD_ORIGIN_CACHE_BYTES"] = "0"
    from openvod.serving.origin_process import app_from_environment

    app = app_from_environment()
    origin = getattr(app, "inner", app)  # behind key delivery since issue 7
    # Once-a-second work (the locator's publication reread from the database, the
    # asset's listing rechecked) is per second, not per request: under callgrind, which
    # runs ~50 times slower, it would swamp the loops. Keep both for the whole run.
    origin.publishing._cache.ttl_seconds = 1e9
    origin.assets.revalidate_seconds = 1e9
    return app


def _head_end(data: bytes) -> tuple[int, int]:
    end = data.index(b"\r\n\r\n") + 4
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", data[:end])
    assert match is not None and data.startswith(b"HTTP/1.1 200"), data[:300]
    return end, int(match.group(1))


async def _over_http(app: Any, path: str, n: int, repeats: int,
                     profile: cProfile.Profile | None) -> list[float]:  # fmt: skip
    from openvod.httpd.server import serve

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    ports: list[int] = []
    server = loop.create_task(serve(app, "127.0.0.1", 0, stop, ready=ports.append))
    while not ports:
        await asyncio.sleep(0.01)
    client = socket.socket()
    client.setblocking(False)
    await loop.sock_connect(client, ("127.0.0.1", ports[0]))
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: cost\r\n\r\n".encode()
    await loop.sock_sendall(client, request)
    first = b""
    while b"\r\n\r\n" not in first:
        first += await loop.sock_recv(client, 1 << 20)
    head, length = _head_end(first)
    size = head + length
    buffer = bytearray(size + (1 << 16))
    got = len(first)
    while got < size:
        got += await loop.sock_recv_into(client, memoryview(buffer)[got - len(first) :])

    async def one() -> None:
        await loop.sock_sendall(client, request)
        received = 0
        view = memoryview(buffer)
        while received < size:
            received += await loop.sock_recv_into(client, view[received:])
        assert received == size

    samples = await _timed(one, n, repeats, profile)
    client.close()
    stop.set()
    await server
    return samples


async def _over_asgi(app: Any, path: str, n: int, repeats: int,
                     profile: cProfile.Profile | None) -> list[float]:  # fmt: skip
    raw = path.encode()
    headers = [(b"host", b"bench"), (b"user-agent", b"cost")]
    extensions = {"http.response.zerocopysend": {}, "http.response.pathsend": {}}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def one() -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000), "scheme": "http",
            "method": "GET", "root_path": "", "path": path, "raw_path": raw,
            "query_string": b"", "headers": headers, "extensions": extensions,
        }  # fmt: skip
        await app(scope, receive, send)

    return await _timed(one, n, repeats, profile)


WARMUP_REQUESTS = 100


async def _timed(one: Callable[[], Awaitable[None]], n: int, repeats: int,
                 profile: cProfile.Profile | None) -> list[float]:  # fmt: skip
    for _ in range(WARMUP_REQUESTS):
        await one()
    samples = []
    for _ in range(repeats):
        if profile is not None:
            profile.enable()
        os.getppid()  # under callgrind --dump-before=os_getppid: a dump before the loop
        start = time.process_time()
        for _ in range(n):
            await one()
        samples.append((time.process_time() - start) / n)
        os.getppid()  # and one after it
        if profile is not None:
            profile.disable()
    return samples


def measure(data_dir: Path, kinds: list[str], mode: str, n: int, repeats: int,
            profile_top: int) -> None:  # fmt: skip
    paths = json.loads((data_dir / "paths.json").read_text())
    apps: dict[bool, Any] = {}
    for kind in kinds:
        cache_on = kind.endswith("-on") or kind == "mpd"
        app = apps.get(cache_on) or apps.setdefault(cache_on, _app(data_dir, cache_on))
        path = paths[kind.split("-")[0]]
        profile = cProfile.Profile() if profile_top else None
        runner = _over_http if mode == "http" else _over_asgi
        samples = asyncio.run(runner(app, path, n, repeats, profile))
        print(
            f"{kind:9s} {mode}: {min(samples) * 1e6:7.1f} us/request "
            f"(repeats {', '.join(f'{s * 1e6:.1f}' for s in samples)})",
            flush=True,
        )
        if profile is not None:
            stats = pstats.Stats(profile, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(profile_top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("setup", "measure"))
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--mode", choices=("http", "asgi"), default="http")
    parser.add_argument("-n", type=int, default=2000, help="requests per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="TOP",
        help="print cProfile's TOP functions by own time instead",
    )
    args = parser.parse_args()
    if args.action == "setup":
        setup(args.data_dir)
    else:
        measure(args.data_dir, args.kinds.split(","), args.mode, args.n, args.repeats, args.profile)


if __name__ == "__main__":
    main()
