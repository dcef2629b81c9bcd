"""Benchmark: the origin's just-in-time packaging against nginx serving static segments.

One run measures, interleaved, with ``wrk -t2 -c32 -d10s`` on 127.0.0.1, a wrk Lua
script cycling through every segment of a 120-s GOP-aligned ladder (1280x720 at
3 Mb/s, 640x360 at 800 kb/s, AAC 128 kb/s):

- ``openvod serve --no-worker`` (a subprocess) with its response cache off, serving
  DASH fMP4 (``mpd-time-cmaf``) and HLS TS (``m3u8-aapl``) segments;
- a second openvod process with the cache on (default budget), same URLs;
- nginx (Debian's, on a generated config, one worker) serving Shaka Packager's static
  DASH fMP4 and HLS TS segments of the same MP4s (2-s segments).

It prints requests/s, MB/s, latency p50/p99 and the server's CPU time per request
(medians over the rounds), the ratios openvod / nginx (medians of per-round ratios),
the peak RSS of each openvod process under load, the 2-hour manifest build p50
(builder functions timed directly with their memos cleared; the origin's HTTP answer
too, for reference) and a py-spy profile of the origin under load
(``--profile-seconds 0`` skips it). ``--uvloop`` runs openvod on uvloop instead of
asyncio's loop, as an experiment. ``MALLOC_*`` variables in the environment reach
the openvod processes (glibc malloc tuning experiments).

The media are encoded once with ffmpeg and kept under ``bench/out/origin/``
(git-ignored), as are the profiles and ``results.json``. Every process the script
starts is stopped however it ends, and the whole run is bounded by ``--max-seconds``.

    .venv/bin/python bench/origin.py [--rounds 3] [--seconds 10] [--profile-seconds 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import urljoin

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openvod.client import OpenvodClient  # noqa: E402
from openvod.config import Settings  # noqa: E402
from openvod.context import Context, open_context  # noqa: E402
from openvod.media.dash import build_mpd  # noqa: E402
from openvod.media.hls import build_media_playlist  # noqa: E402
from openvod.media.index import load_movie  # noqa: E402
from openvod.media.ism import IsmTrack, ServerManifest, audio_track_name, build_ism  # noqa: E402
from openvod.media.presentation import Presentation, build_presentation  # noqa: E402
from openvod.movie_files import SIDECAR_SUFFIX, write_sidecar  # noqa: E402
from openvod.origin.assets import sources_from_ism  # noqa: E402
from openvod.services.tokens import create_token  # noqa: E402
from openvod.tools import ffmpeg, packager  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "origin"
FPS = 25
SEGMENT_SECONDS = 2
KINDS = ("fmp4", "ts")
WRK_THREADS, WRK_CONNECTIONS = 2, 32
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GOALS = {"fmp4 off": 0.70, "ts off": 0.56, "fmp4 on": 0.80, "ts on": 0.80}
MANIFEST_GOAL_MS, RSS_GOAL_MB = 2.0, 150.0
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
SUFFIX = {False: "", True: "-uvloop"}  # output file names of --uvloop runs


@dataclass(frozen=True)
class Rung:
    """One video rendition of a ladder."""

    width: int
    height: int
    kbps: int

    def file_name(self, stem: str) -> str:
        """The MP4's name, AMS style: ``{stem}_{w}x{h}_{kbps}.mp4``."""
        return f"{stem}_{self.width}x{self.height}_{self.kbps}.mp4"


@dataclass(frozen=True)
class Ladder:
    """A GOP-aligned ABR set: each rung an MP4 with its video and the same AAC track."""

    stem: str
    seconds: int
    rungs: tuple[Rung, ...]
    audio_bps: int
    noise: bool  # temporal noise makes x264 spend the whole bitrate, like real footage

    def ism(self, files: Sequence[Path]) -> str:
        """The ``.ism`` listing each file's video and the first file's audio."""
        pairs = zip(files, self.rungs, strict=True)
        tracks = [IsmTrack("video", f.name, rung.kbps * 1000, 1) for f, rung in pairs]
        name = audio_track_name(bitrate_bps=self.audio_bps)
        tracks.append(IsmTrack("audio", files[0].name, self.audio_bps, 2, name))
        return build_ism(ServerManifest(tuple(tracks)))


CLIP = Ladder("bench", 120, (Rung(1280, 720, 3000), Rung(640, 360, 800)), 128_000, True)
# The 2-hour asset only needs a 2-hour index: a small 10-s ladder looped 720 times.
LOOP = Ladder("loop", 10, (Rung(320, 180, 120), Rung(160, 90, 60)), 64_000, False)
LONG = Ladder("long", 7200, LOOP.rungs, LOOP.audio_bps, False)


def run_tool(argv: Sequence[str], cwd: Path | None = None) -> None:
    """Run a media tool, logging the command so it can be pasted into a shell."""
    print(f"  $ {shlex.join(argv)}", flush=True)
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        tool = Path(argv[0]).name
        raise RuntimeError(f"{tool} failed ({done.returncode}):\n{done.stderr[-3000:]}")


# --- media, made once under bench/out/origin ------------------------------------------------


def ladder_command(ladder: Ladder, outputs: Sequence[Path]) -> list[str]:
    """One ffmpeg run encoding every rung of ``ladder`` from one generated source."""
    top, count = ladder.rungs[0], len(ladder.rungs)
    noise = "noise=alls=10:allf=t," if ladder.noise else ""
    graph = [f"[0:v]{noise}split={count}" + "".join(f"[s{i}]" for i in range(count))]
    graph += [f"[s{i}]scale={r.width}:{r.height}[v{i}]" for i, r in enumerate(ladder.rungs)]
    source = f"testsrc2=size={top.width}x{top.height}:rate={FPS}:duration={ladder.seconds}"
    tone = f"sine=frequency=440:sample_rate=48000:duration={ladder.seconds}"
    argv = [str(ffmpeg()), "-v", "error", "-y", "-f", "lavfi", "-i", source,
            "-f", "lavfi", "-i", tone, "-filter_complex", ";".join(graph)]  # fmt: skip
    for index, (rung, output) in enumerate(zip(ladder.rungs, outputs, strict=True)):
        argv += [
            "-map", f"[v{index}]", "-map", "1:a",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            # capped VBR: segment sizes close to the nominal bitrate, as in a real ladder
            "-b:v", f"{rung.kbps}k", "-maxrate", f"{rung.kbps}k", "-bufsize", f"{2 * rung.kbps}k",
            # GOP-aligned: every rendition cuts at the same 2-s marks, no scene-cut keyframes
            "-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECONDS})", "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", str(ladder.audio_bps), "-ac", "2",
            "-movflags", "+faststart",  # moov first, as openvod's encoder writes them
            "-f", "mp4", str(output),
        ]  # fmt: skip
    return argv


def _finish(parts: Sequence[Path], finals: Sequence[Path]) -> list[Path]:
    """Move finished files into place and write their sidecar indexes."""
    for part, final in zip(parts, finals, strict=True):
        part.replace(final)
        write_sidecar(final)
    return list(finals)


def _cached(finals: Sequence[Path]) -> bool:
    return all(f.with_name(f.name + SIDECAR_SUFFIX).exists() for f in finals)


def encode_ladder(ladder: Ladder, folder: Path) -> list[Path]:
    """The ladder's MP4s (with sidecars), encoded unless already cached."""
    finals = [folder / rung.file_name(ladder.stem) for rung in ladder.rungs]
    if not _cached(finals):
        parts = [f.with_suffix(".part") for f in finals]
        run_tool(ladder_command(ladder, parts))
        _finish(parts, finals)
    return finals


def loop_ladder(sources: Sequence[Path], target: Ladder) -> list[Path]:
    """Each source concatenated up to ``target.seconds`` (stream copy, so cheap)."""
    folder = sources[0].parent
    finals = [folder / rung.file_name(target.stem) for rung in target.rungs]
    if not _cached(finals):
        loops = target.seconds // LOOP.seconds
        parts = [f.with_suffix(".part") for f in finals]
        for source, part in zip(sources, parts, strict=True):
            run_tool([str(ffmpeg()), "-v", "error", "-y", "-stream_loop", str(loops - 1),
                      "-i", str(source), "-c", "copy", "-movflags", "+faststart",
                      "-f", "mp4", str(part)])  # fmt: skip
        _finish(parts, finals)
    return finals


def packager_command(kind: str, files: Sequence[Path]) -> list[str]:
    """Shaka Packager's command for DASH fMP4 (``dash``) or HLS TS (``hls``) segments."""
    streams = [(f, "video", f"v{i}") for i, f in enumerate(files)] + [(files[0], "audio", "a")]
    argv = [str(packager())]
    for path, stream, name in streams:
        descriptor = f"in={path},stream={stream}"
        if kind == "dash":
            descriptor += f",init_segment=dash/{name}/init.mp4"
            descriptor += f",segment_template=dash/{name}/$Number$.m4s"
        else:
            descriptor += f",segment_template=hls/{name}/$Number$.ts,playlist_name={name}.m3u8"
        argv.append(descriptor)
    argv += ["--segment_duration", str(SEGMENT_SECONDS)]
    if kind == "dash":
        return argv + ["--mpd_output", "dash/manifest.mpd"]
    return argv + ["--hls_master_playlist_output", "hls/master.m3u8"]


def package_static(files: Sequence[Path], folder: Path) -> Path:
    """Shaka Packager's static segments of ``files`` (made unless cached): the nginx root."""
    target = folder / "static"
    if (target / "complete").exists():
        return target
    work = folder / "static.part"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    work.mkdir(parents=True)
    for kind in ("dash", "hls"):
        run_tool(packager_command(kind, files), cwd=work)
    (work / "complete").touch()
    work.replace(target)
    return target


def static_paths(root: Path, kind: str) -> list[str]:
    """URL paths of every static segment (init segments first), stream by stream."""
    pattern = "dash/*/*.m4s" if kind == "fmp4" else "hls/*/*.ts"
    found = sorted(root.glob(pattern), key=lambda p: (p.parent.name, int(p.stem)))
    if kind == "fmp4":
        found = sorted(root.glob("dash/*/init.mp4")) + found
    return ["/" + p.relative_to(root).as_posix() for p in found]


# --- the processes under test ---------------------------------------------------------------


class Processes:
    """Every process the benchmark starts, stopped (TERM, then KILL) however the run ends."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own process group, output to ``{name}.log``."""
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)  # fmt: skip
        self._started.append((proc, log))
        return proc

    def check_alive(self) -> None:
        """Raise, with the tail of its log, if a started process has exited."""
        for proc, log in self._started:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{log.stem} exited with {proc.returncode}:\n{tail}")

    def stop_all(self) -> None:
        """Stop what was started, newest first; KILL the group of anything that lingers."""
        for proc, _ in reversed(self._started):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            with suppress(ProcessLookupError, PermissionError):  # nginx workers, if orphaned
                os.killpg(proc.pid, signal.SIGKILL)
        self._started.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop_all()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, path: str, procs: Processes, timeout_s: float = 60) -> None:
    """Wait until 127.0.0.1:``port`` answers ``path`` with any status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        procs.check_alive()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise TimeoutError(f"port {port} did not answer within {timeout_s} s")


@dataclass(frozen=True)
class Target:
    """A server under test: where it listens and the pid whose CPU (and RSS) to watch."""

    name: str
    port: int
    pid: int

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:{port}``."""
        return f"http://127.0.0.1:{self.port}"


# `openvod serve` drives uvicorn.Server.serve() from asyncio.run(), so it runs on asyncio's
# own loop; uvicorn.run() (as `openvod origin` uses) would pick uvloop. --uvloop measures that.
UVLOOP_LAUNCHER = (
    "import asyncio, sys, uvloop; asyncio.set_event_loop_policy(uvloop.EventLoopPolicy()); "
    "from openvod.cli import main; sys.argv[0] = 'openvod'; main()"
)


def start_openvod(
    procs: Processes, name: str, data_dir: Path, cache_bytes: int | None, uvloop: bool
) -> Target:
    """``openvod serve --no-worker`` on free ports; ``cache_bytes`` None keeps the default."""
    port, blob_port = free_port(), free_port()
    env = dict(os.environ)
    if cache_bytes is not None:
        env["OPENVOD_ORIGIN_CACHE_BYTES"] = str(cache_bytes)
    command = [sys.executable, "-c", UVLOOP_LAUNCHER] if uvloop else [
        str(Path(sys.executable).with_name("openvod"))]  # fmt: skip
    argv = [*command, "serve", "--no-worker", "--data-dir", str(data_dir),
            "--port", str(port), "--blob-port", str(blob_port)]  # fmt: skip
    proc = procs.start(name, argv, env)
    wait_http(port, "/healthz", procs)
    return Target(name, port, proc.pid)


NGINX_CONF = """\
{user}worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ video/mp4 mp4 m4s; video/mp2t ts; application/dash+xml mpd;
             application/vnd.apple.mpegurl m3u8; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def start_nginx(procs: Processes, root: Path, tmp: Path, workers: int) -> Target:
    """nginx in the foreground on a generated config and a free port."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""  # else workers run as 'nobody'
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(user=user, workers=workers, tmp=tmp, port=port, root=root))
    proc = procs.start("nginx", [nginx, "-p", str(tmp), "-e", str(tmp / "nginx-error.log"),
                                 "-c", str(conf)])  # fmt: skip
    wait_http(port, "/", procs)
    return Target("nginx", port, proc.pid)


def prepare_data_dir(data_dir: Path) -> tuple[Context, str]:
    """A fresh openvod data folder (migrated) and an API token for it."""
    ctx = open_context(Settings(data_dir=data_dir))
    with ctx.session() as session:
        token = create_token(session, "bench")
    return ctx, token


def publish(client: OpenvodClient, ctx: Context, ladder: Ladder, files: Sequence[Path]) -> str:
    """An asset with ``files``, their sidecars and a .ism, under a clear-streaming locator."""
    asset = client.call("PUT", f"/assets/{ladder.stem}", {"properties": {}})
    container = asset["properties"]["container"]
    for mp4 in files:
        ctx.store.put_file(container, mp4.name, mp4, content_type="video/mp4")
        sidecar = mp4.with_name(mp4.name + SIDECAR_SUFFIX)
        ctx.store.put_file(container, sidecar.name, sidecar)
    ism = ladder.ism(files).encode()
    ctx.store.put_blob(container, f"{ladder.stem}.ism", ism, content_type="text/xml")
    body = {"assetName": ladder.stem, "streamingPolicyName": "Predefined_ClearStreamingOnly"}
    locator = client.call("PUT", f"/streamingLocators/{ladder.stem}", {"properties": body})
    return str(locator["properties"]["streamingLocatorId"])


# --- URLs and fetching ----------------------------------------------------------------------


def fetch(host: str, port: int, path: str, conn: http.client.HTTPConnection | None = None) -> bytes:
    """GET ``path``; raises unless 200 (pass ``conn`` to reuse a keep-alive connection)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return body
    finally:
        if own:
            conn.close()


def dash_paths(mpd_path: str, mpd: bytes) -> list[str]:
    """Every init and media segment path an MPD with SegmentTimelines names."""
    paths: list[str] = []
    for adaptation in ET.fromstring(mpd).iterfind(".//d:AdaptationSet", NS):
        for representation in adaptation.iterfind("d:Representation", NS):
            template = representation.find("d:SegmentTemplate", NS)
            if template is None:
                template = adaptation.find("d:SegmentTemplate", NS)
            assert template is not None, "every representation has a SegmentTemplate"
            bandwidth = representation.get("bandwidth", "")
            media = template.get("media", "").replace("$Bandwidth$", bandwidth)
            init = template.get("initialization", "").replace("$Bandwidth$", bandwidth)
            paths.append(urljoin(mpd_path, init))
            time_ticks = 0
            for s in template.iterfind("d:SegmentTimeline/d:S", NS):
                time_ticks = int(s.get("t", time_ticks))
                for _ in range(int(s.get("r", "0")) + 1):
                    paths.append(urljoin(mpd_path, media.replace("$Time$", str(time_ticks))))
                    time_ticks += int(s.get("d", "0"))
    return paths


def hls_paths(fetch_text: Callable[[str], str], master_path: str) -> list[str]:
    """Every segment path of a master playlist's variant and audio playlists."""
    playlists: list[str] = []
    for line in fetch_text(master_path).splitlines():
        uri = re.search(r'URI="([^"]+)"', line) if line.startswith("#EXT-X-MEDIA:") else None
        if uri or (line and not line.startswith("#")):
            playlist = urljoin(master_path, uri.group(1) if uri else line)
            if playlist not in playlists:
                playlists.append(playlist)
    paths: list[str] = []
    for playlist in playlists:
        for line in fetch_text(playlist).splitlines():
            segment = urljoin(playlist, line) if line and not line.startswith("#") else None
            if segment is not None and segment not in paths:
                paths.append(segment)
    return paths


def openvod_paths(target: Target, locator: str, stem: str) -> dict[str, list[str]]:
    """Segment paths of the published clip, read from the origin's own manifests."""
    base = f"/{locator}/{stem}.ism/"

    def text(path: str) -> str:
        return fetch("127.0.0.1", target.port, path).decode()

    mpd_path = base + "manifest(format=mpd-time-cmaf)"
    return {
        "fmp4": dash_paths(mpd_path, fetch("127.0.0.1", target.port, mpd_path)),
        "ts": hls_paths(text, base + "manifest(format=m3u8-aapl)"),
    }


def total_bytes(target: Target, paths: Sequence[str]) -> int:
    """GET every path once (checks each answers 200; warms caches); the bytes served."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    try:
        return sum(len(fetch("127.0.0.1", target.port, p, conn)) for p in paths)
    finally:
        conn.close()


# --- wrk ------------------------------------------------------------------------------------

WRK_LUA = """\
local paths = {{
{paths}
}}
local count = #paths
local next_index = 1
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("ordinal", threads)
end

function init(args)
  -- each thread starts at its own share of the list, then walks all of it
  next_index = ((ordinal - 1) * math.floor(count / {threads})) % count + 1
end

function request()
  local path = paths[next_index]
  next_index = next_index % count + 1
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests": %d, "bytes": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d}}\\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def write_lua(path: Path, paths: Sequence[str]) -> Path:
    """A wrk script that cycles through ``paths``."""
    listed = ",\n".join(json.dumps(p) for p in paths)  # JSON strings are valid Lua strings here
    path.write_text(WRK_LUA.format(paths=listed, threads=WRK_THREADS))
    return path


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency, failures, the server's CPU per request and peak RSS."""

    requests_per_s: float
    mb_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float  # server user + system CPU (nginx: master and workers)
    kernel_share: float  # the system part of it
    peak_rss_mb: float  # 0 when not watched


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and its child processes (nginx workers)."""
    user = system = 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for member in [pid, *map(int, children)]:
        with suppress(FileNotFoundError):
            stat = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(stat[11]) / CLOCK_TICKS  # utime, field 14 of proc(5)
            system += int(stat[12]) / CLOCK_TICKS  # stime, field 15
    return user, system


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


@contextmanager
def watching_rss(pid: int | None, every_s: float = 0.2) -> Iterator[list[float]]:
    """Sample a process's RSS while the block runs; yields the list of samples (MB)."""
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while pid is not None and not stop.wait(every_s):
            samples.append(rss_mb(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


def wrk_command(target: Target, script: Path, seconds: int) -> list[str]:
    """``wrk -t2 -c32 -d{seconds}s`` with the cycling script."""
    return ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s",
            "-s", str(script), target.base_url + "/"]  # fmt: skip


def run_wrk(target: Target, script: Path, seconds: int) -> WrkResult:
    """One measurement; RSS is watched for openvod targets."""
    watched = target.pid if target.name != "nginx" else None
    user, system = cpu_seconds(target.pid)
    with watching_rss(watched) as samples:
        done = subprocess.run(wrk_command(target, script, seconds), check=True,
                              capture_output=True, text=True, timeout=seconds + 60)  # fmt: skip
    user_after, system_after = cpu_seconds(target.pid)
    line = next(x for x in done.stdout.splitlines() if x.startswith('{"requests"'))
    data = json.loads(line)
    duration_s = data["duration_us"] / 1e6
    cpu_s = user_after - user + system_after - system
    return WrkResult(
        requests_per_s=data["requests"] / duration_s,
        mb_per_s=data["bytes"] / duration_s / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"],
        cpu_us_per_request=cpu_s / max(data["requests"], 1) * 1e6,
        kernel_share=(system_after - system) / cpu_s if cpu_s else 0.0,
        peak_rss_mb=max(samples, default=0.0),
    )


Results = dict[tuple[str, str], list[WrkResult]]


def measure(targets: Sequence[Target], scripts: dict[tuple[str, str], Path], rounds: int,
            seconds: int) -> Results:  # fmt: skip
    """Every (target, kind) once per round; odd rounds run in reverse order against drift."""
    plan = [(t, kind) for kind in KINDS for t in targets]
    results: Results = {(t.name, kind): [] for t, kind in plan}
    for round_index in range(rounds):
        for target, kind in plan if round_index % 2 == 0 else plan[::-1]:
            result = run_wrk(target, scripts[target.name, kind], seconds)
            results[target.name, kind].append(result)
            print(f"  round {round_index + 1} {target.name:12} {kind:4}: "
                  f"{result.requests_per_s:8.1f} req/s {result.mb_per_s:7.1f} MB/s "
                  f"p50 {result.p50_ms:6.1f} ms p99 {result.p99_ms:6.1f} ms "
                  f"CPU {result.cpu_us_per_request:5.0f} us/req errors {result.errors}",
                  flush=True)  # fmt: skip
    return results


def median_result(runs: Sequence[WrkResult]) -> WrkResult:
    """Field-wise medians."""
    names = [f.name for f in fields(WrkResult)]
    values = {name: statistics.median(getattr(r, name) for r in runs) for name in names}
    values["errors"] = sum(r.errors for r in runs)
    return WrkResult(**values)


def ratios(results: Results, name: str, kind: str, attribute: str) -> list[float]:
    """Per round, ``name`` / nginx for one figure."""
    pairs = zip(results[name, kind], results["nginx", kind], strict=True)
    return [getattr(a, attribute) / getattr(b, attribute) for a, b in pairs]


def ratio(results: Results, name: str, kind: str, attribute: str) -> float:
    """Median over rounds of ``name`` / nginx for one figure."""
    return statistics.median(ratios(results, name, kind, attribute))


# --- manifests ------------------------------------------------------------------------------


def load_presentation(ladder: Ladder, files: Sequence[Path]) -> Presentation:
    """The presentation the origin builds for the ladder: sidecar indexes plus the .ism."""
    movies = {f.name: load_movie(f.with_name(f.name + SIDECAR_SUFFIX).read_bytes()) for f in files}
    sources = sources_from_ism(ladder.ism(files).encode())
    return build_presentation(ladder.stem, sources, movies)


def cold_p50_ms(p: Presentation, build: Callable[[], str], repeat: int = 51) -> float:
    """Median CPU time of ``build`` with the builders' text memos cleared before each call.

    CPU time, not wall time: on a shared machine wall time mostly measures the neighbours.
    """
    samples = []
    for _ in range(repeat):
        p.cache.clear()
        for rendition in p.renditions:
            rendition.cache.clear()
        start = time.process_time()
        build()
        samples.append((time.process_time() - start) * 1000)
    return statistics.median(samples)


def http_ms(target: Target, path: str, repeat: int = 31) -> tuple[float, float]:
    """(first answer, median of the next ``repeat``) of GET ``path``, in ms, keep-alive."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
    samples = []
    try:
        for _ in range(repeat + 1):
            start = time.perf_counter()
            fetch("127.0.0.1", target.port, path, conn)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return samples[0], statistics.median(samples[1:])


def manifest_timings(files: Sequence[Path], target: Target, locator: str) -> dict[str, Any]:
    """2-hour MPD and HLS media playlist: builder p50 (memos cleared) and over HTTP."""
    start = time.perf_counter()
    p = load_presentation(LONG, files)
    load_ms = (time.perf_counter() - start) * 1000
    video = p.video[0]
    base = f"/{locator}/{LONG.stem}.ism/"
    playlist = f"QualityLevels({video.bitrate_bps})/Manifest(video,format=m3u8-aapl)"
    return {
        "duration_s": p.duration_seconds,
        "segments": video.segment_count,
        "load_ms": load_ms,
        "mpd_ms": cold_p50_ms(p, lambda: build_mpd(p, "mpd-time-cmaf")),
        "playlist_ms": cold_p50_ms(p, lambda: build_media_playlist(p, video, "m3u8-aapl")),
        "mpd_http_ms": http_ms(target, base + "manifest(format=mpd-time-cmaf)"),
        "playlist_http_ms": http_ms(target, base + playlist),
    }


# --- profile --------------------------------------------------------------------------------


def _frame(text: str) -> str:
    """``func (file:line)`` without the line number."""
    return re.sub(r":\d+\)$", ")", text)


def hot_spots(raw: Path, top: int = 12) -> dict[str, Any]:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count, frames = int(count_text), [_frame(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    ours = [(n, c) for n, c in inclusive.most_common() if re.search(r"openvod/(origin|media)/", n)]
    return {"samples": total, "self": own.most_common(top), "openvod": ours[:top]}


def profile(
    procs: Processes, target: Target, script: Path, seconds: int, raw: Path
) -> dict[str, Any]:
    """py-spy's view of ``target`` while wrk loads it with ``script``."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return {"skipped": "py-spy not installed (.venv/bin/pip install py-spy)"}
    load = procs.start(f"wrk-{raw.stem}", wrk_command(target, script, seconds + 2))
    time.sleep(1)
    subprocess.run([str(spy), "record", "--pid", str(target.pid), "--duration", str(seconds),
                    "--rate", "100", "--nonblocking", "--format", "raw", "--output", str(raw)],
                   check=True, capture_output=True, timeout=seconds + 60)  # fmt: skip
    load.wait(timeout=30)
    return {**hot_spots(raw), "expected": seconds * 100, "file": raw.name}


# --- the run --------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything one run measured."""

    rounds: int
    seconds: int
    uvloop: bool
    idle_rss_mb: dict[str, float]
    urls: dict[tuple[str, str], tuple[int, int]]  # (target, kind) -> (count, bytes)
    results: Results
    manifests: dict[str, Any]
    profiles: dict[str, dict[str, Any]]


def prepare_media() -> tuple[list[Path], list[Path], Path]:
    """The clip's MP4s, the 2-hour MP4s and Shaka Packager's static segments (all cached)."""
    OUT.mkdir(parents=True, exist_ok=True)
    clip = encode_ladder(CLIP, OUT)
    long_files = loop_ladder(encode_ladder(LOOP, OUT), LONG)
    return clip, long_files, package_static(clip, OUT)


def start_targets(
    procs: Processes, tmp: Path, static: Path, args: argparse.Namespace,
    media: Mapping[str, Sequence[Path]],
) -> tuple[list[Target], dict[str, str]]:  # fmt: skip
    """Both openvod processes (cache off, on) with the assets published, and nginx."""
    ctx, token = prepare_data_dir(tmp / "data")
    data_dir = ctx.settings.resolved_data_dir
    off = start_openvod(procs, "openvod-off", data_dir, 0, args.uvloop)
    client = OpenvodClient(off.base_url, token)
    client.ensure_account()
    client.call("POST", "/streamingEndpoints/default/start")
    locators = {ladder.stem: publish(client, ctx, ladder, media[ladder.stem])
                for ladder in (CLIP, LONG)}  # fmt: skip
    on = start_openvod(procs, "openvod-on", data_dir, None, args.uvloop)
    return [off, on, start_nginx(procs, static, tmp, args.nginx_workers)], locators


def prepare_urls(
    targets: Sequence[Target], tmp: Path, static: Path, locator: str
) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[tuple[str, str], Path]]:
    """Per (target, kind): URL count and bytes (every URL fetched once) and the wrk script."""
    ours = openvod_paths(targets[0], locator, CLIP.stem)
    urls, scripts = {}, {}
    for target in targets:
        for kind in KINDS:
            paths = static_paths(static, kind) if target.name == "nginx" else ours[kind]
            urls[target.name, kind] = (len(paths), total_bytes(target, paths))
            scripts[target.name, kind] = write_lua(tmp / f"{target.name}-{kind}.lua", paths)
    return urls, scripts


def run_benchmark(args: argparse.Namespace, procs: Processes, tmp: Path) -> Report:
    """Start everything, check every URL, measure, time manifests, profile."""
    clip, long_files, static = prepare_media()
    media = {CLIP.stem: clip, LONG.stem: long_files}
    targets, locators = start_targets(procs, tmp, static, args, media)
    off, on = targets[0], targets[1]
    idle = {t.name: rss_mb(t.pid) for t in (off, on)}
    urls, scripts = prepare_urls(targets, tmp, static, locators[CLIP.stem])
    wrk = shlex.join(wrk_command(off, Path("SCRIPT.lua"), args.seconds))
    print(f"measuring: {args.rounds} rounds of {wrk}", flush=True)
    results = measure(targets, scripts, args.rounds, args.seconds)
    manifests = manifest_timings(long_files, off, locators[LONG.stem])
    profiles = {}
    if args.profile_seconds > 0:
        for target, kind in ((off, "fmp4"), (off, "ts"), (on, "fmp4")):
            key = f"{kind} {target.name.split('-')[1]}"
            raw = OUT / f"profile-{key.replace(' ', '-')}{SUFFIX[args.uvloop]}.txt"
            script = scripts[target.name, kind]
            profiles[key] = profile(procs, target, script, args.profile_seconds, raw)
    return Report(args.rounds, args.seconds, args.uvloop, idle, urls, results, manifests, profiles)


LABELS = {"openvod-off": "openvod, cache off", "openvod-on": "openvod, cache on",
          "nginx": "nginx static (Shaka)"}  # fmt: skip
FORMATS = {"fmp4": "DASH fMP4", "ts": "HLS TS"}


def verdict(value: float, goal: float, higher_is_better: bool = True) -> str:
    """'met', or how far from the goal."""
    if (value >= goal) if higher_is_better else (value <= goal):
        return "met"
    if higher_is_better:
        return f"missed: {value / goal:.0%} of goal"
    return f"missed: {value / goal:.2f}x goal"


def print_throughput(report: Report) -> None:
    """The wrk table and the ratios."""
    loop = "uvloop (experiment)" if report.uvloop else "asyncio (as `openvod serve` runs)"
    print(f"\nwrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{report.seconds}s, medians of "
          f"{report.rounds} interleaved rounds; openvod event loop: {loop}\n")  # fmt: skip
    print("| server | segments | URLs | mean size kB | req/s | MB/s | p50 ms | p99 ms | errors "
          "| server CPU us/req (kernel) | peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in KINDS:
        for name in LABELS:
            m = median_result(report.results[name, kind])
            count, size = report.urls[name, kind]
            rss = f"{m.peak_rss_mb:.0f}" if m.peak_rss_mb else "-"
            print(f"| {LABELS[name]} | {FORMATS[kind]} | {count} | {size / count / 1000:.0f} | "
                  f"{m.requests_per_s:.0f} | {m.mb_per_s:.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} | "
                  f"{m.errors} | {m.cpu_us_per_request:.0f} ({m.kernel_share:.0%}) | "
                  f"{rss} |")  # fmt: skip
    print("\n| openvod / nginx | req/s ratio (rounds) | MB/s ratio | goal (req/s) | verdict "
          "| CPU per request, nginx / openvod |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for key, goal in GOALS.items():
        kind, cache = key.split()
        name = f"openvod-{cache}"
        by_requests = ratio(report.results, name, kind, "requests_per_s")
        by_bytes = ratio(report.results, name, kind, "mb_per_s")
        by_cpu = 1 / ratio(report.results, name, kind, "cpu_us_per_request")
        each = ratios(report.results, name, kind, "requests_per_s")
        spread = f"{by_requests:.2f} ({min(each):.2f}-{max(each):.2f})"
        print(f"| {FORMATS[kind]}, cache {cache} | {spread} | {by_bytes:.2f} | "
              f">= {goal:.2f} | {verdict(by_requests, goal)} | {by_cpu:.2f} |")
    print()
    for name in ("openvod-off", "openvod-on"):
        peak = max(r.peak_rss_mb for kind in KINDS for r in report.results[name, kind])
        print(f"VmRSS, {LABELS[name]}: {report.idle_rss_mb[name]:.0f} MB idle, peak {peak:.0f} MB "
              f"under load (goal <= {RSS_GOAL_MB:.0f} MB: "
              f"{verdict(peak, RSS_GOAL_MB, higher_is_better=False)})")


def print_machine() -> None:
    """What the numbers were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               "?")  # fmt: skip
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0]
    print(f"\nmachine: {os.cpu_count()} x {cpu}; load average {os.getloadavg()[0]:.1f} at the end; "
          f"Python {sys.version.split()[0]}; {nginx.split(': ')[-1]}; {wrk.strip()}")
    tuning = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    if tuning:
        print(f"glibc malloc tuning passed to openvod: {tuning}")


def print_manifests(m: dict[str, Any]) -> None:
    """The 2-hour manifest timings."""
    print(f"\n2-hour asset ({m['duration_s']:.0f} s, {m['segments']} segments per track; "
          f"index load + presentation {m['load_ms']:.0f} ms)\n")
    print("| manifest | builder CPU p50, memos cleared | goal | origin: first answer | "
          "origin: p50 after |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key, label in (("mpd", "DASH MPD (mpd-time-cmaf)"),
                       ("playlist", "HLS media playlist (m3u8-aapl, video)")):  # fmt: skip
        build, (first, warm) = m[f"{key}_ms"], m[f"{key}_http_ms"]
        print(f"| {label} | {build:.2f} ms | <= {MANIFEST_GOAL_MS:.0f} ms, "
              f"{verdict(build, MANIFEST_GOAL_MS, higher_is_better=False)} | {first:.1f} ms | "
              f"{warm:.2f} ms |")
    print("\nbuilder: build_mpd / build_media_playlist called in this process on the presentation "
          "the origin builds,\ntheir text memos cleared before each call. origin: GET on the "
          "cache-off process (keep-alive);\nthe MPD's first answer also loads the 2-h index; "
          "later answers come from the per-asset\nmanifest memo, which origin_cache_bytes=0 "
          "does not turn off.")


def print_profiles(profiles: dict[str, dict[str, Any]]) -> None:
    """Top frames of each py-spy profile."""
    for key, found in profiles.items():
        if "skipped" in found:
            print(f"\nprofile {key}: {found['skipped']}")
            continue
        kind, cache = key.split()
        total = max(found["samples"], 1)
        print(f"\npy-spy, cache-{cache} origin under {FORMATS[kind]} load: {found['samples']} "
              f"busy samples of {found['expected']} (100 Hz); "
              f"bench/out/origin/{found['file']}")
        print("  self time:")
        for name, count in found["self"]:
            print(f"    {count / total:6.1%}  {name}")
        print("  inclusive, openvod frames:")
        for name, count in found["openvod"]:
            print(f"    {count / total:6.1%}  {name}")


def save_report(report: Report, path: Path) -> None:
    """The raw figures as JSON, for the docs."""
    doc = {
        "idle_rss_mb": report.idle_rss_mb,
        "urls": {" ".join(k): v for k, v in report.urls.items()},
        "runs": {" ".join(k): [vars(r) for r in v] for k, v in report.results.items()},
        "manifests": report.manifests,
        "profiles": report.profiles,
    }
    path.write_text(json.dumps(doc, indent=1))


def _install_deadline(seconds: int) -> None:
    """Turn SIGALRM after ``seconds`` and SIGTERM into exceptions, so cleanup always runs."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"the benchmark ran longer than --max-seconds {seconds}")

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGALRM, expire)
    signal.signal(signal.SIGTERM, terminate)
    signal.alarm(seconds)


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per server and format")
    parser.add_argument("--seconds", type=int, default=10, help="wrk -d")
    parser.add_argument("--profile-seconds", type=int, default=8, help="py-spy; 0: no profile")
    parser.add_argument("--nginx-workers", type=int, default=1,
                        help="nginx worker_processes (1: as many as openvod's serving processes)")
    parser.add_argument("--uvloop", action="store_true",
                        help="experiment: run openvod on uvloop instead of asyncio's loop")
    parser.add_argument("--max-seconds", type=int, default=1800, help="bound on the whole run")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} not found: apt-get install -y wrk nginx-light")
    _install_deadline(args.max_seconds)
    with tempfile.TemporaryDirectory(prefix="openvod-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with Processes(tmp) as procs:
            report = run_benchmark(args, procs, tmp)
    signal.alarm(0)
    save_report(report, OUT / f"results{SUFFIX[args.uvloop]}.json")
    print_machine()
    print_throughput(report)
    print_manifests(report.manifests)
    print_profiles(report.profiles)


if __name__ == "__main__":
    main()
