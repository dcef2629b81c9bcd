"""Shared helpers for the MP4 tests: real files made with ffmpeg, ffprobe packets, synthetic tracks.

Fixtures are imported by the test modules that use them; encodes are cached
for the whole session so each file is made once.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from openvod.encoding import tools
from openvod.media.mp4 import NeedBytes, locate_moov, parse_movie, read_brands
from openvod.media.mp4.boxes import (
    DataInformationBox,
    MediaBox,
    MediaInformationBox,
    MovieBox,
    RawBox,
    SampleTableBox,
    TrackBox,
)
from openvod.media.mp4.movie_boxes import (
    DataReferenceBox,
    HandlerBox,
    MediaHeaderBox,
    MovieHeaderBox,
    SampleDescriptionBox,
    SoundMediaHeaderBox,
    TrackHeaderBox,
    VideoMediaHeaderBox,
)
from openvod.media.mp4.table_boxes import (
    ChunkLargeOffsetBox,
    CompositionOffsetBox,
    SampleSizeBox,
    SampleToChunkBox,
    SyncSampleBox,
    TimeToSampleBox,
)
from openvod.media.track import Movie, SampleTable, Track

_SOURCE = [
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=320x180:rate=25:duration=6",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=48000:duration=6",
]
_H264 = [
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-g",
    "50",
    "-keyint_min",
    "50",
    "-sc_threshold",
    "0",  # a keyframe exactly every 2 s
]
_AAC = ["-c:a", "aac", "-b:a", "64k"]
ENCODES: dict[str, list[str]] = {
    # moov first, no B-frames
    "faststart": [*_SOURCE, *_H264, "-bf", "0", *_AAC, "-movflags", "+faststart"],
    # moov after mdat (ffmpeg's default)
    "moov_end": [*_SOURCE, *_H264, "-bf", "0", *_AAC],
    # B-frames: ctts and an edit list
    "bframes": [*_SOURCE, *_H264, "-bf", "3", *_AAC, "-movflags", "+faststart"],
    # HEVC, video only
    "hevc": [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25:duration=2",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error",
        "-tag:v",
        "hvc1",
    ],
}
_cache: dict[str, Path] = {}


@dataclass(frozen=True)
class Media:
    """A test file: its path, bytes and parsed Movie."""

    name: str
    path: Path
    data: bytes
    movie: Movie


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a tool, failing the test with its stderr when it fails."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{args[0]} failed: {done.stderr[-2000:]}")
    return done


def encode(name: str, factory: pytest.TempPathFactory) -> Path:
    """Make (once per session) the test file called ``name``."""
    if name not in _cache:
        path = factory.mktemp("mp4") / f"{name}.mp4"
        run(tools.ffmpeg(), "-v", "error", "-y", *ENCODES[name], str(path))
        _cache[name] = path
    return _cache[name]


def load(path: Path) -> Movie:
    """Parse a file the way the origin does: locate, then parse."""
    data = path.read_bytes()
    where = locate_moov(data[:4096], len(data))
    while isinstance(where, NeedBytes):
        where = locate_moov(
            data[where.offset : where.offset + where.size], len(data), head_offset=where.offset
        )
    moov = data[where.offset : where.offset + where.size]
    return parse_movie(moov, len(data), brands=read_brands(data[:4096]))


@pytest.fixture(scope="session", params=["faststart", "moov_end", "bframes"])
def media(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Media:
    """Each of the three H.264 + AAC test files."""
    path = encode(request.param, tmp_path_factory)
    return Media(request.param, path, path.read_bytes(), load(path))


def get_media(name: str, factory: pytest.TempPathFactory) -> Media:
    """One named test file."""
    path = encode(name, factory)
    return Media(name, path, path.read_bytes(), load(path))


def probe_packets(path: Path) -> dict[int, dict[str, np.ndarray]]:
    """ffprobe's packets per stream index, as arrays: pts, dts, size, pos, key."""
    out = run(
        tools.ffprobe(),
        "-v",
        "error",
        "-show_entries",
        "packet=stream_index,pts,dts,size,pos,flags",
        "-of",
        "json",
        path,
    ).stdout
    streams: dict[int, list[dict[str, str]]] = {}
    for packet in json.loads(out)["packets"]:
        streams.setdefault(int(packet["stream_index"]), []).append(packet)
    return {
        index: {
            "pts": np.array([int(p["pts"]) for p in packets], dtype=np.int64),
            "dts": np.array([int(p["dts"]) for p in packets], dtype=np.int64),
            "size": np.array([int(p["size"]) for p in packets], dtype=np.int64),
            "pos": np.array([int(p.get("pos", -1)) for p in packets], dtype=np.int64),
            "key": np.array(["K" in p["flags"] for p in packets], dtype=np.bool_),
        }
        for index, packets in streams.items()
    }


def probe_streams(path: Path) -> list[dict[str, object]]:
    """ffprobe's stream descriptions."""
    out = run(tools.ffprobe(), "-v", "error", "-show_streams", "-of", "json", path).stdout
    return list(json.loads(out)["streams"])


def shaka_codecs(path: Path, stream: str, work: Path) -> str:
    """The codecs attribute Shaka Packager writes in its MPD for one stream."""
    mpd = work / f"{stream}.mpd"
    run(
        tools.packager(),
        f"in={path},stream={stream},output={work / (stream + '.mp4')}",
        "--mpd_output",
        mpd,
    )
    found = re.search(r'codecs="([^"]+)"', mpd.read_text())
    assert found is not None
    return found.group(1)


# --- synthetic tracks (no ffmpeg), for speed tests and property tests ---


def avc1_entry(width: int = 1920, height: int = 1080) -> bytes:
    """A minimal 'avc1' sample entry with an avcC (High profile, level 4.0)."""
    avcc = bytes([1, 0x64, 0x00, 0x28, 0xFF, 0xE0, 0x00])
    payload = (
        bytes(6)
        + b"\x00\x01"
        + bytes(16)
        + width.to_bytes(2, "big")
        + height.to_bytes(2, "big")
        + b"\x00\x48\x00\x00" * 2
        + bytes(4)
        + b"\x00\x01"
        + bytes(32)
        + b"\x00\x18\xff\xff"
        + RawBox(b"avcC", avcc).to_bytes()
    )
    return RawBox(b"avc1", payload).to_bytes()


def mp4a_entry(channels: int = 2, rate: int = 48000) -> bytes:
    """A minimal 'mp4a' sample entry whose esds holds an AAC-LC AudioSpecificConfig."""
    asc = bytes([0x11, 0x90])  # AOT 2, 48 kHz (index 3), 2 channels
    dsi = bytes([0x05, len(asc)]) + asc
    dcd = bytes([0x04, 13 + len(dsi), 0x40, 0x15]) + bytes(11) + dsi
    es = bytes([0x03, 3 + len(dcd) + 3, 0, 1, 0]) + dcd + bytes([0x06, 1, 2])
    esds = RawBox(b"esds", bytes(4) + es).to_bytes()
    payload = (
        bytes(6)
        + b"\x00\x01"
        + bytes(8)
        + channels.to_bytes(2, "big")
        + b"\x00\x10"
        + bytes(4)
        + (rate << 16).to_bytes(4, "big")
        + esds
    )
    return RawBox(b"mp4a", payload).to_bytes()


def video_samples(
    seconds: float, fps: int = 25, gop: int = 50, bframes: bool = True
) -> SampleTable:
    """A synthetic H.264-like sample table: keyframes every ``gop``, IPBB ctts pattern."""
    count = int(seconds * fps)
    duration = 512  # timescale 12800 at 25 fps
    index = np.arange(count)
    sync = index % gop == 0
    rng = np.random.default_rng(1)
    sizes = np.where(sync, 40000, rng.integers(2000, 9000, count)).astype(np.uint32)
    cts = np.zeros(count, dtype=np.int32)
    if bframes:  # decode order I P B B: presentation offsets 0, +2, -1, -1 frames
        pattern = np.array([0, 2, -1, -1], dtype=np.int32) * duration
        cts = pattern[(index % gop) % 4]
    offsets = 10_000 + np.cumsum(sizes, dtype=np.int64) - sizes
    return SampleTable(
        dts=(index * duration).astype(np.int64),
        cts_offset=cts,
        duration=np.full(count, duration, dtype=np.uint32),
        size=sizes,
        offset=offsets.astype(np.uint64),
        sync=sync,
    )


def synthetic_video(seconds: float = 7200.0) -> Track:
    """A synthetic 1080p25 H.264 track ``seconds`` long."""
    samples = video_samples(seconds)
    return Track(
        track_id=1,
        kind="video",
        codec="avc1",
        codec_string="avc1.640028",
        timescale=12800,
        duration_ticks=int(samples.duration.sum()),
        samples=samples,
        sample_entry=avc1_entry(),
        codec_private=bytes([1, 0x64, 0, 0x28]),
        width=1920,
        height=1080,
        frame_rate=Fraction(25),
        bitrate_bps=5_000_000,
        max_bitrate_bps=6_000_000,
    )


def synthetic_audio(seconds: float = 7200.0, first_offset: int = 0) -> Track:
    """A synthetic 48 kHz AAC-like track (1024-sample frames) ``seconds`` long."""
    count = int(seconds * 48000 / 1024)
    index = np.arange(count)
    sizes = (300 + index % 37).astype(np.uint32)
    samples = SampleTable(
        dts=(index * 1024).astype(np.int64),
        cts_offset=np.zeros(count, dtype=np.int32),
        duration=np.full(count, 1024, dtype=np.uint32),
        size=sizes,
        offset=(first_offset + np.cumsum(sizes, dtype=np.int64) - sizes).astype(np.uint64),
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
        sample_entry=mp4a_entry(),
        sample_rate_hz=48000,
        channels=2,
    )


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encode: (counts, values)."""
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, len(values)))
    return counts.astype(np.uint32), values[starts]


def moov_for(track: Track, chunk_samples: int = 1) -> TrackBox:
    """A progressive 'trak' for a synthetic track (chunks of ``chunk_samples``)."""
    samples = track.samples
    stts_counts, deltas = _runs(samples.duration)
    ctts_counts, offsets = _runs(samples.cts_offset)
    chunk_starts = np.arange(0, len(samples), chunk_samples)
    stbl = SampleTableBox(
        [
            SampleDescriptionBox([RawBox.from_bytes(track.sample_entry)]),
            TimeToSampleBox(stts_counts, deltas.astype(np.uint32)),
            CompositionOffsetBox(ctts_counts, offsets.astype(np.int32)),
            SampleToChunkBox(
                np.array([1], np.uint32),
                np.array([chunk_samples], np.uint32),
                np.array([1], np.uint32),
            ),
            SampleSizeBox(0, len(samples), samples.size),
            ChunkLargeOffsetBox(samples.offset[chunk_starts]),
            SyncSampleBox((np.flatnonzero(samples.sync) + 1).astype(np.uint32)),
        ]
    )
    video = track.kind == "video"
    minf = MediaInformationBox(
        [
            VideoMediaHeaderBox() if video else SoundMediaHeaderBox(),
            DataInformationBox([DataReferenceBox()]),
            stbl,
        ]
    )
    mdia = MediaBox(
        [
            MediaHeaderBox(track.timescale, track.duration_ticks, "eng"),
            HandlerBox("vide" if video else "soun", "synthetic"),
            minf,
        ]
    )
    return TrackBox(
        [TrackHeaderBox(track.track_id, 0, track.width << 16, track.height << 16), mdia]
    )


def synthetic_moov(*tracks: Track) -> bytes:
    """A whole 'moov' for synthetic tracks, written with openvod's own box classes."""
    mvhd = MovieHeaderBox(1000, int(max(t.duration_seconds for t in tracks) * 1000), 3)
    return MovieBox([mvhd, *(moov_for(t) for t in tracks)]).to_bytes()
