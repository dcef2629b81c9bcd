"""bench/origin.py's media: the ladders (the clip's in either layout: single-track MP4s as
openvod's encoder writes them, or interleaved), Shaka Packager's static segments of the
same MP4s, publishing into openvod, the segment URLs the origin's manifests name, and the
2-hour manifest timings.

The media are encoded once with ffmpeg and kept under ``bench/out/origin/`` (git-ignored).
"""

from __future__ import annotations

import http.client
import re
import shlex
import shutil
import statistics
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from bench.origin_load import Target, fetch
from openvod.client.rest import OpenvodClient
from openvod.config import Settings
from openvod.context import Context, open_context
from openvod.encoding.tools import ffmpeg, packager
from openvod.media.dash import build_mpd
from openvod.media.hls import build_media_playlist
from openvod.media.index import load_movie
from openvod.media.ism import IsmTrack, ServerManifest, audio_track_name, build_ism
from openvod.media.presentation import Presentation, build_presentation
from openvod.origin.assets import sources_from_ism
from openvod.services.tokens import create_token
from openvod.storage.movie_files import SIDECAR_SUFFIX, write_sidecar

OUT = Path(__file__).resolve().parent / "out" / "origin"
FPS = 25
SEGMENT_SECONDS = 2
KINDS = ("fmp4", "ts")
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


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
    """A GOP-aligned ABR set: each rung's video at its bitrate, one AAC track."""

    stem: str
    seconds: int
    rungs: tuple[Rung, ...]
    audio_bps: int
    noise: bool  # temporal noise makes x264 spend the whole bitrate, like real footage

    def audio_file_name(self) -> str:
        """The AAC-only MP4's name, as openvod's encoder (AMS) writes it:
        ``{stem}_AACAudio_{kbps}.mp4``."""
        return f"{self.stem}_AACAudio_{self.audio_bps // 1000}.mp4"

    def ism(self, media: LadderFiles) -> str:
        """The ``.ism`` listing each rung's video and the audio once."""
        pairs = zip(media.videos, self.rungs, strict=True)
        tracks = [IsmTrack("video", f.name, rung.kbps * 1000, 1) for f, rung in pairs]
        name = audio_track_name(bitrate_bps=self.audio_bps)
        tracks.append(IsmTrack("audio", media.audio.name, self.audio_bps, media.audio_track, name))
        return build_ism(ServerManifest(tuple(tracks)))


@dataclass(frozen=True)
class LadderFiles:
    """Where a ladder's tracks are: each rung's MP4 (its video is track 1) and the MP4 and
    track ID of the audio.

    ``interleaved``: every rung's MP4 has the video and the AAC track (track 2); the audio
    is taken from the first one. ``tracks``: video-only MP4s plus one AAC-only MP4 (track
    1), as openvod's encoder writes them (AMS's AdaptiveStreaming preset).
    """

    layout: str
    videos: tuple[Path, ...]
    audio: Path
    audio_track: int

    @property
    def files(self) -> list[Path]:
        """Every distinct MP4, the video ones first."""
        return [*self.videos, *([] if self.audio in self.videos else [self.audio])]


LAYOUTS = ("tracks", "interleaved")


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


def interleaved_files(files: Sequence[Path]) -> LadderFiles:
    """An interleaved ladder's MP4s: the audio is track 2 of the first one."""
    return LadderFiles("interleaved", tuple(files), files[0], 2)


def split_tracks(ladder: Ladder, interleaved: Sequence[Path], folder: Path) -> LadderFiles:
    """The ladder as openvod's encoder writes it, remuxed from the interleaved MP4s (stream
    copy, no re-encode; made unless cached in ``folder``): each rung's video alone under
    the rung's name, and the first MP4's AAC alone in ``{stem}_AACAudio_{kbps}.mp4``."""
    folder.mkdir(parents=True, exist_ok=True)
    videos = [folder / source.name for source in interleaved]
    audio = folder / ladder.audio_file_name()
    finals = [*videos, audio]
    if not _cached(finals):
        jobs = [(source, "0:v", video) for source, video in zip(interleaved, videos, strict=True)]
        jobs.append((interleaved[0], "0:a", audio))
        parts = [final.with_suffix(".part") for final in finals]
        for (source, streams, _), part in zip(jobs, parts, strict=True):
            run_tool([str(ffmpeg()), "-v", "error", "-y", "-i", str(source), "-map", streams,
                      "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(part)])  # fmt: skip
        _finish(parts, finals)
    return LadderFiles("tracks", tuple(videos), audio, 1)


def packager_command(kind: str, media: LadderFiles) -> list[str]:
    """Shaka Packager's command for DASH fMP4 (``dash``) or HLS TS (``hls``) segments: each
    rung's video and the audio, from the same MP4s openvod serves."""
    streams = [(f, "video", f"v{i}") for i, f in enumerate(media.videos)]
    streams.append((media.audio, "audio", "a"))
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


def package_static(media: LadderFiles, folder: Path) -> Path:
    """Shaka Packager's static segments of ``media`` (made unless cached): the nginx root,
    ``static-{layout}/``."""
    target = folder / f"static-{media.layout}"
    if (target / "complete").exists():
        return target
    work = folder / f"static-{media.layout}.part"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    work.mkdir(parents=True)
    for kind in ("dash", "hls"):
        run_tool(packager_command(kind, media), cwd=work)
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


def prepare_media(layout: str) -> tuple[LadderFiles, LadderFiles, Path]:
    """The clip's MP4s in ``layout``, the 2-hour MP4s (interleaved) and Shaka Packager's
    static segments of the clip's MP4s (all cached)."""
    OUT.mkdir(parents=True, exist_ok=True)
    clip = interleaved_files(encode_ladder(CLIP, OUT))
    if layout == "tracks":
        clip = split_tracks(CLIP, clip.videos, OUT / "tracks")
    long_files = interleaved_files(loop_ladder(encode_ladder(LOOP, OUT), LONG))
    return clip, long_files, package_static(clip, OUT)


# --- publishing -----------------------------------------------------------------------------


def prepare_data_dir(data_dir: Path) -> tuple[Context, str]:
    """A fresh openvod data folder (migrated) and an API token for it."""
    ctx = open_context(Settings(data_dir=data_dir))
    with ctx.session() as session:
        token = create_token(session, "bench")
    return ctx, token


def publish(client: OpenvodClient, ctx: Context, ladder: Ladder, media: LadderFiles) -> str:
    """An asset with the MP4s, their sidecars and a .ism, under a clear-streaming locator."""
    asset = client.call("PUT", f"/assets/{ladder.stem}", {"properties": {}})
    container = asset["properties"]["container"]
    for mp4 in media.files:
        ctx.store.put_file(container, mp4.name, mp4, content_type="video/mp4")
        sidecar = mp4.with_name(mp4.name + SIDECAR_SUFFIX)
        ctx.store.put_file(container, sidecar.name, sidecar)
    ism = ladder.ism(media).encode()
    ctx.store.put_blob(container, f"{ladder.stem}.ism", ism, content_type="text/xml")
    body = {"assetName": ladder.stem, "streamingPolicyName": "Predefined_ClearStreamingOnly"}
    locator = client.call("PUT", f"/streamingLocators/{ladder.stem}", {"properties": body})
    return str(locator["properties"]["streamingLocatorId"])


# --- segment URLs ---------------------------------------------------------------------------


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


# --- manifests ------------------------------------------------------------------------------


def load_presentation(ladder: Ladder, media: LadderFiles) -> Presentation:
    """The presentation the origin builds for the ladder: sidecar indexes plus the .ism."""
    movies = {
        f.name: load_movie(f.with_name(f.name + SIDECAR_SUFFIX).read_bytes()) for f in media.files
    }
    sources = sources_from_ism(ladder.ism(media).encode())
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


def manifest_timings(media: LadderFiles, target: Target, locator: str) -> dict[str, Any]:
    """2-hour MPD and HLS media playlist: builder p50 (memos cleared) and over HTTP."""
    start = time.perf_counter()
    p = load_presentation(LONG, media)
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
