"""Real encodes with the shipped ffmpeg, checked by reopening the outputs with ffprobe.

Inputs are tiny generated clips (640x360, a few seconds), and presets use
complexity Speed, so the whole module runs in seconds.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from openvod.encoding import InputFile, encode
from openvod.encoding.tools import ffmpeg, ffprobe
from openvod.errors import EncodeError, JobCanceledError, MediaError
from openvod.media.ism import parse_ism

pytestmark = pytest.mark.slow
NS = "#Microsoft.Media."


def make(path: Path, *args: str) -> Path:
    subprocess.run(
        [str(ffmpeg()), "-hide_banner", "-loglevel", "error", "-y", *args, str(path)], check=True
    )
    return path


def lavfi_clip(
    path: Path, seconds: float, rate: str, *, audio: bool = True, extra: tuple[str, ...] = ()
) -> Path:
    video = ["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={rate}:duration={seconds}"]
    sound = (
        ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
        if audio
        else []
    )
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    return make(
        path, *video, *sound, *codecs, *(["-c:a", "aac", "-ac", "2"] if audio else []), *extra
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("encoder-media")
    files = {
        "src25": lavfi_clip(root / "src25.mp4", 6, "25"),
        "src2997": lavfi_clip(
            root / "src2997.mp4", 6, "30000/1001", extra=("-movflags", "+faststart")
        ),
        "silent": lavfi_clip(root / "silent.mp4", 3, "25", audio=False),
        "audio": make(root / "voice.m4a", "-f", "lavfi", "-i", "sine=duration=3", "-c:a", "aac"),
    }
    (root / "notes.txt").write_text("these are my notes, not a video\n")
    files["text"] = root / "notes.txt"
    whole = files["src25"].read_bytes()  # moov at the end: cutting it off loses the index
    (root / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    files["cut"] = root / "cut.mp4"
    fast = files["src2997"].read_bytes()  # moov first: the index survives, the media does not
    (root / "cut_faststart.mp4").write_bytes(fast[: int(len(fast) * 0.4)])
    files["cut_faststart"] = root / "cut_faststart.mp4"
    return files


def builtin(name: str, **configurations: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.type": NS + "BuiltInStandardEncoderPreset", "presetName": name}
    if configurations:
        body["configurations"] = configurations
    return body


def probe_json(path: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(ffprobe()), "-v", "error", "-print_format", "json", *args, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def streams(path: Path) -> dict[str, dict[str, Any]]:
    data = probe_json(path, "-show_streams")
    return {s["codec_type"]: s for s in data["streams"]}


def keyframe_times(path: Path) -> list[float]:
    data = probe_json(
        path, "-select_streams", "v", "-skip_frame", "nokey", "-show_entries", "frame=pts_time"
    )
    return [round(float(f["pts_time"]), 3) for f in data["frames"]]


def top_level_boxes(path: Path) -> list[str]:
    boxes, data, offset = [], path.read_bytes(), 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append(kind.decode("latin-1"))
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        offset += size or len(data)
    return boxes


def assert_streamable(path: Path, duration: float, rate: Fraction) -> dict[str, dict[str, Any]]:
    """Checks every rendition must pass for the origin."""
    info = streams(path)
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat"), f"{path.name}: moov must come first"
    frame = 1 / float(rate)
    if "video" in info:
        video = info["video"]
        assert Fraction(video["r_frame_rate"]) == rate
        assert video["pix_fmt"] == "yuv420p" and video.get("sample_aspect_ratio", "1:1") == "1:1"
        assert abs(float(video["duration"]) - duration) <= frame + 1e-3
    if "audio" in info:
        assert info["audio"]["codec_name"] == "aac"
        assert abs(float(info["audio"]["duration"]) - duration) <= frame + 1e-3
    return info


def assert_aligned_keyframes(
    paths: list[Path], duration: float, rate: Fraction, interval: float = 2.0
) -> None:
    """Keyframes identical in every rendition, the k-th in [k*interval, k*interval + 1 frame)."""
    times = [keyframe_times(p) for p in paths]
    assert all(t == times[0] for t in times), f"keyframes differ: {times}"
    frame = 1 / float(rate)
    expected = sum(
        1 for k in range(100) if k * interval < duration - frame / 2
    )  # frames that exist
    assert len(times[0]) == expected, times[0]
    for k, t in enumerate(times[0]):
        assert k * interval - 1e-3 <= t < k * interval + frame, times[0]


def test_adaptive_streaming(media: dict[str, Path], tmp_path: Path) -> None:
    progress: list[float] = []
    written = encode(
        [InputFile(media["src25"])],
        builtin("AdaptiveStreaming", complexity="Speed"),
        tmp_path,
        basename="src25",
        on_progress=progress.append,
    )
    names = sorted(p.name for p in written)
    assert names == sorted(p.name for p in tmp_path.iterdir())
    videos = sorted(
        tmp_path.glob("src25_*x*_*.mp4"), key=lambda p: -int(p.stem.split("_")[1].split("x")[0])
    )
    assert [p.name.rsplit("_", 1)[0] for p in videos] == [
        "src25_640x360",
        "src25_480x270",
        "src25_320x180",
    ]
    assert (tmp_path / "src25_AACAudio_128.mp4").is_file() and (tmp_path / "src25.ism").is_file()
    assert len(names) == 5
    for path in videos:
        info = assert_streamable(path, 6.0, Fraction(25))
        assert set(info) == {"video"}, "non-interleaved: video-only renditions"
        assert int(info["video"]["height"]) <= 360
    audio = assert_streamable(tmp_path / "src25_AACAudio_128.mp4", 6.0, Fraction(25))
    assert set(audio) == {"audio"} and int(audio["audio"]["sample_rate"]) == 48000
    assert_aligned_keyframes(videos, 6.0, Fraction(25))
    manifest = parse_ism((tmp_path / "src25.ism").read_text())
    assert [t.src for t in manifest.video] == [p.name for p in videos]
    assert [(t.src, t.track_id) for t in manifest.audio] == [("src25_AACAudio_128.mp4", 1)]
    assert progress == sorted(progress) and progress[-1] == 100.0


def test_custom_preset_at_29_97(media: dict[str, Path], tmp_path: Path) -> None:
    preset = {
        "@odata.type": NS + "StandardEncoderPreset",
        "codecs": [
            {
                "@odata.type": NS + "H264Video",
                "keyFrameInterval": "PT2S",
                "complexity": "Speed",
                "layers": [
                    {"bitrate": 1000000, "width": "640", "height": "360", "label": "HD"},
                    {"bitrate": 400000, "width": "50%", "height": "50%", "label": "SD"},
                ],
            },
            {
                "@odata.type": NS + "AacAudio",
                "channels": 2,
                "samplingRate": 48000,
                "bitrate": 128000,
            },
            {
                "@odata.type": NS + "PngImage",
                "start": "25%",
                "step": "25%",
                "range": "80%",
                "layers": [{"width": "50%", "height": "50%"}],
            },
            {
                "@odata.type": NS + "JpgImage",
                "start": "PT1S",
                "step": "PT1S",
                "range": "PT3S",
                "spriteColumn": 2,
                "layers": [{"width": "160", "height": "90", "quality": 80}],
            },
        ],
        "formats": [
            {
                "@odata.type": NS + "Mp4Format",
                "filenamePattern": "Video-{Basename}-{Label}-{Bitrate}{Extension}",
            },
            {
                "@odata.type": NS + "PngFormat",
                "filenamePattern": "Thumbnail-{Basename}-{Index}{Extension}",
            },
            {
                "@odata.type": NS + "JpgFormat",
                "filenamePattern": "Sprite-{Basename}-{Index}{Extension}",
            },
        ],
    }
    written = encode([InputFile(media["src2997"])], preset, tmp_path, basename="src2997")
    assert sorted(p.name for p in written) == [
        "Sprite-src2997-000001.jpg",
        "Sprite-src2997-000001.vtt",
        "Thumbnail-src2997-000001.png",
        "Thumbnail-src2997-000002.png",
        "Thumbnail-src2997-000003.png",  # at 25%, 50% and 75%
        "Video-src2997-HD-1000.mp4",
        "Video-src2997-SD-400.mp4",
        "src2997.ism",
    ]
    rate = Fraction(30000, 1001)
    videos = [tmp_path / "Video-src2997-HD-1000.mp4", tmp_path / "Video-src2997-SD-400.mp4"]
    for path in videos:
        info = assert_streamable(path, 6.006, rate)
        assert set(info) == {"video", "audio"}, "audio is interleaved by default"
    assert streams(videos[1])["video"]["width"] == 320
    assert_aligned_keyframes(videos, 6.006, rate)
    png = (tmp_path / "Thumbnail-src2997-000001.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (320, 180)
    sprite = streams(tmp_path / "Sprite-src2997-000001.jpg")["video"]
    assert (sprite["codec_name"], sprite["width"], sprite["height"]) == ("mjpeg", 320, 180)
    vtt = (tmp_path / "Sprite-src2997-000001.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "Sprite-src2997-000001.jpg#xywh=160,90,160,90" not in vtt
    assert "#xywh=0,90,160,90" in vtt
    manifest = parse_ism((tmp_path / "src2997.ism").read_text())
    assert [(t.src, t.track_id) for t in manifest.audio] == [("Video-src2997-HD-1000.mp4", 2)]


def test_clip_start_and_end(media: dict[str, Path], tmp_path: Path) -> None:
    written = encode(
        [InputFile(media["src25"], start_seconds=1.5, end_seconds=4.5)],
        builtin("H264SingleBitrateSD", complexity="Speed"),
        tmp_path,
        basename="clip",
    )
    (mp4,) = [p for p in written if p.suffix == ".mp4"]
    assert mp4.name == "clip_848x480_2200.mp4"  # fixed built-in ladders scale as AMS did
    assert_streamable(mp4, 3.0, Fraction(25))
    assert_aligned_keyframes([mp4], 3.0, Fraction(25))


def test_stitched_inputs(media: dict[str, Path], tmp_path: Path) -> None:
    inputs = [
        InputFile(media["src25"]),
        InputFile(media["src2997"], 1.0, 3.0),
        InputFile(media["silent"]),
    ]
    written = encode(
        inputs,
        builtin("AdaptiveStreaming", complexity="Speed", maxLayers=1),
        tmp_path,
        basename="s",
    )
    video = next(p for p in written if p.name.startswith("s_640x360"))
    assert_streamable(video, 11.0, Fraction(25))
    assert abs(float(streams(tmp_path / "s_AACAudio_128.mp4")["audio"]["duration"]) - 11.0) < 0.05


def test_aac_good_quality_audio(media: dict[str, Path], tmp_path: Path) -> None:
    written = encode(
        [InputFile(media["audio"])], builtin("AACGoodQualityAudio"), tmp_path, basename="voice"
    )
    assert sorted(p.name for p in written) == ["voice.ism", "voice_AACAudio_192.mp4"]
    info = streams(tmp_path / "voice_AACAudio_192.mp4")
    assert set(info) == {"audio"} and info["audio"]["channels"] == 2


@pytest.mark.parametrize(
    ("key", "preset", "message"),
    [
        (
            "text",
            builtin("AdaptiveStreaming"),
            "The input file 'notes.txt' is not a media file ffmpeg can read",
        ),
        (
            "cut",
            builtin("AdaptiveStreaming"),
            "The input file 'cut.mp4' is not a media file ffmpeg can read",
        ),
        (
            "cut_faststart",
            builtin("AdaptiveStreaming", complexity="Speed"),
            "is truncated or corrupt",
        ),
        ("audio", builtin("AdaptiveStreaming"), "'voice.m4a' has no video stream"),
        ("silent", builtin("AACGoodQualityAudio"), "'silent.mp4' has no audio stream"),
    ],
)
def test_unusable_inputs_fail_readably(
    media: dict[str, Path], tmp_path: Path, key: str, preset: dict[str, Any], message: str
) -> None:
    out = tmp_path / "out"
    with pytest.raises(EncodeError) as caught:
        encode([InputFile(media[key])], preset, out, basename=key, work_dir=tmp_path)
    assert message in str(caught.value)
    assert isinstance(caught.value, MediaError)
    assert not out.exists() or not any(out.iterdir()), "nothing is left in output_dir"
    assert [p.name for p in tmp_path.iterdir() if p.name != "out"] == [], "temp files are removed"


def ffmpeg_children() -> list[int]:
    """Processes (zombies included) whose parent is this test process and that run ffmpeg."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, fields = (
            stat[stat.index("(") + 1 : stat.rindex(")")],
            stat[stat.rindex(")") + 2 :].split(),
        )
        if int(fields[1]) == os.getpid() and comm.startswith("ffmpeg"):
            found.append(int(entry.name))
    return found


@pytest.fixture
def long_clip(tmp_path: Path) -> Iterator[Path]:
    yield lavfi_clip(tmp_path / "long.mp4", 30, "25")


def test_cancel_kills_ffmpeg_and_leaves_nothing(long_clip: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    out, work = tmp_path / "out", tmp_path / "work"
    work.mkdir()
    started = time.monotonic()
    with pytest.raises(JobCanceledError):
        encode(
            [InputFile(long_clip)],
            builtin("AdaptiveStreaming", complexity="Quality"),
            out,
            basename="long",
            on_progress=lambda _: cancel.set(),
            cancel=cancel,
            work_dir=work,
        )
    assert time.monotonic() - started < 15
    assert ffmpeg_children() == []
    assert not out.exists() or not any(out.iterdir())
    assert list(work.iterdir()) == []
