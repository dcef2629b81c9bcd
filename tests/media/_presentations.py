"""Shared helpers for the presentation and manifest tests.

- a real 3-rendition GOP-aligned ABR set made with ffmpeg (once per session);
- a small synthetic presentation built from fixed numpy arrays, for golden files;
- a 2-hour synthetic presentation, for timings.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from openvod.encoding import tools
from openvod.media.mp4.boxes import RawBox
from openvod.media.presentation import (
    Presentation,
    StreamSource,
    build_presentation,
    derive_sources,
)
from openvod.media.track import Movie, SampleTable, Track

from ._mp4_media import load, run, synthetic_audio, synthetic_video

GOLDEN = Path(__file__).parent / "golden"
RUNGS = (("320x180", "400k"), ("256x144", "250k"), ("192x108", "150k"))


@dataclass(frozen=True)
class AbrSet:
    """Real encodes: file name -> (bytes, Movie), in ladder order (highest first)."""

    files: dict[str, bytes]
    movies: dict[str, Movie]

    def sample_data(self, file_name: str, track: Track, first: int, end: int) -> bytes:
        """The bytes of samples ``[first, end)`` read the way the origin would."""
        data = self.files[file_name]
        samples = track.samples
        return b"".join(
            data[offset : offset + size]
            for offset, size in zip(
                samples.offset[first:end].tolist(), samples.size[first:end].tolist(), strict=True
            )
        )


_abr: dict[str, AbrSet] = {}


def _encode_rung(path: Path, size: str, bitrate: str) -> None:
    run(
        tools.ffmpeg(),
        "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration=6",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=6",
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", bitrate,
        "-force_key_frames", "expr:gte(t,n_forced*2)", "-sc_threshold", "0",  # 2-s GOPs
        "-c:a", "aac", "-b:a", "96k", "-ac", "2",
        "-movflags", "+faststart",
        str(path),
    )  # fmt: skip


@pytest.fixture(scope="session")
def abr(tmp_path_factory: pytest.TempPathFactory) -> AbrSet:
    """Three GOP-aligned H.264 renditions (B-frames) with stereo AAC, 6 s each."""
    if "abr" not in _abr:
        folder = tmp_path_factory.mktemp("abr")
        files, movies = {}, {}
        for size, bitrate in RUNGS:
            name = f"clip_{size}_{bitrate}.mp4"
            _encode_rung(folder / name, size, bitrate)
            files[name] = (folder / name).read_bytes()
            movies[name] = load(folder / name)
        _abr["abr"] = AbrSet(files, movies)
    return _abr["abr"]


def abr_presentation(abr: AbrSet) -> Presentation:
    """The presentation AMS would stream for the ABR set without an .ism."""
    return build_presentation("clip", derive_sources(abr.movies), abr.movies)


# --- synthetic, deterministic -----------------------------------------------------------------

SPS = bytes.fromhex("6764001FACD9405005BB011000000300100000030320F1831960")
PPS = bytes.fromhex("68EBECB22C")
AVCC = bytes([1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0, len(SPS)]) + SPS + bytes([1, 0, len(PPS)]) + PPS
ASC = bytes([0x11, 0x90])  # AAC-LC, 48 kHz, stereo


def small_video(width: int, height: int, scale: int, bitrate_bps: int, seconds: int = 7) -> Track:
    """25 fps, timescale 12800, a keyframe every 2 s, IPBB cts pattern, fixed sizes."""
    count, duration = seconds * 25, 512
    index = np.arange(count)
    sync = index % 50 == 0
    sizes = (np.where(sync, 6000, 1000 + (index % 7) * 100) * scale).astype(np.uint32)
    cts = (np.array([0, 2, -1, -1], dtype=np.int32) * duration)[(index % 50) % 4]
    samples = SampleTable(
        dts=(index * duration).astype(np.int64),
        cts_offset=cts.astype(np.int32),
        duration=np.full(count, duration, dtype=np.uint32),
        size=sizes,
        offset=(4096 + np.cumsum(sizes, dtype=np.int64) - sizes).astype(np.uint64),
        sync=sync,
    )
    return Track(
        track_id=1,
        kind="video",
        codec="avc1",
        codec_string="avc1.64001F",
        timescale=12800,
        duration_ticks=count * duration,
        samples=samples,
        sample_entry=RawBox(b"avc1", bytes(78) + RawBox(b"avcC", AVCC).to_bytes()).to_bytes(),
        codec_private=AVCC,
        width=width,
        height=height,
        frame_rate=Fraction(25),
        bitrate_bps=bitrate_bps,
    )


def small_audio(seconds: int = 7) -> Track:
    """48 kHz AAC-like: 1024-sample frames, priming folded into cts_offset = -1024."""
    count = seconds * 48000 // 1024 + 1
    index = np.arange(count)
    sizes = (300 + index % 5 * 10).astype(np.uint32)
    samples = SampleTable(
        dts=(index * 1024).astype(np.int64),
        cts_offset=np.full(count, -1024, dtype=np.int32),
        duration=np.full(count, 1024, dtype=np.uint32),
        size=sizes,
        offset=(np.cumsum(sizes, dtype=np.int64) - sizes).astype(np.uint64),
        sync=np.ones(count, dtype=np.bool_),
    )
    return Track(
        track_id=2,
        kind="audio",
        codec="mp4a",
        codec_string="mp4a.40.2",
        timescale=48000,
        duration_ticks=count * 1024,
        samples=samples,
        sample_entry=b"",
        codec_private=ASC,
        language="eng",
        sample_rate_hz=48000,
        channels=2,
        bitrate_bps=128000,
    )


def golden_presentation() -> Presentation:
    """Two video renditions and one audio track, 7 s (last video segment 1 s)."""
    movies = {
        "v1.mp4": Movie((small_video(640, 360, 2, 1_000_000), small_audio()), 1000, 7000, 10**6),
        "v2.mp4": Movie((small_video(320, 180, 1, 500_000),), 1000, 7000, 10**6),
    }
    sources = [
        StreamSource("v1.mp4", "video", 1, 1_000_000),
        StreamSource("v2.mp4", "video", 1, 500_000),
        StreamSource("v1.mp4", "audio", 2, 128_000, "aac_eng_2_128"),
    ]
    return build_presentation("golden", sources, movies)


def single_kind_presentations() -> tuple[Presentation, Presentation]:
    """A video-only presentation (two renditions) and an audio-only one (two tracks)."""
    videos = {
        "a.mp4": Movie((small_video(640, 360, 2, 1),), 1000, 7000, 1),
        "b.mp4": Movie((small_video(320, 180, 1, 1),), 1000, 7000, 1),
    }
    video_only = build_presentation("v", derive_sources(videos), videos)
    english, french = small_audio(), dataclasses.replace(small_audio(), track_id=3, language="fra")
    audios = {"a.mp4": Movie((english, french), 1000, 7000, 1)}
    audio_only = build_presentation("a", derive_sources(audios), audios)
    return video_only, audio_only


def check_golden(name: str, text: str, *, update: bool = False) -> None:
    """Compare ``text`` with ``golden/name``; write it when missing or ``update``."""
    path = GOLDEN / name
    if update or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from its golden file"


# --- 2-hour synthetic ---------------------------------------------------------------------------


def long_presentation(hours: float = 2.0) -> Presentation:
    """Three 1080p/720p/540p-like renditions and AAC, ``hours`` long."""
    seconds = hours * 3600
    video = dataclasses.replace(synthetic_video(seconds), codec_private=AVCC)
    audio = dataclasses.replace(synthetic_audio(seconds), bitrate_bps=128000)
    movies: dict[str, Movie] = {}
    sources = []
    for index, bitrate in enumerate((5_000_000, 3_000_000, 1_500_000)):
        name = f"r{index}.mp4"
        tracks = (video, audio) if index == 0 else (video,)
        movies[name] = Movie(tracks, 1000, int(seconds * 1000), 10**9)
        sources.append(StreamSource(name, "video", 1, bitrate))
    sources.append(StreamSource("r0.mp4", "audio", 2, 128_000, "aac_und_2_128"))
    return build_presentation("long", sources, movies)


def time_ms(action: Callable[[], object], repeat: int = 50) -> tuple[float, float]:
    """(first call, median of the following calls) in milliseconds."""
    start = time.perf_counter()
    action()
    first = (time.perf_counter() - start) * 1000
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(samples)
