"""The AMS built-in and StandardEncoderPreset additions, driven through the SDK.

HEVC (``H265*`` names, ``H265Video`` layers as a job's ``presetOverride``),
Dolby Digital, the content-aware per-title ladder, the ``Saas*`` copy presets,
``JobInputSequence`` stitching/inserting, clipping, and the crop/rotation
filters: each job runs on a real server with ffmpeg, and the outputs are
checked with ffprobe (codec, sample entry tag, ladder, keyframe times) or
streamed back through the origin and decoded.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import (
    AacAudio,
    AbsoluteClipTime,
    Asset,
    AudioOverlay,
    BuiltInStandardEncoderPreset,
    DDAudio,
    Filters,
    H264Layer,
    H264Video,
    H265Layer,
    H265Video,
    Job,
    JobInputAsset,
    JobInputs,
    JobInputSequence,
    JobOutputAsset,
    MediaService,
    Mp4Format,
    PresetConfigurations,
    Rectangle,
    StandardEncoderPreset,
    StreamingLocator,
    Transform,
    TransformOutput,
    VideoOverlay,
)
from azure.storage.blob import ContainerClient

from openvod.encoding.tools import ffmpeg, ffprobe
from tests.conftest import ACCOUNT, RESOURCE_GROUP, ServerHandle
from tests.origin_support import count_frames, ffmpeg_decode
from tests.test_acceptance import sas_url
from tests.test_api_sdk import sdk_client
from tests.test_origin_streaming import dash_segment_urls

RG, ACC = RESOURCE_GROUP, ACCOUNT
pytestmark = pytest.mark.slow
JOB_TIMEOUT_SECONDS = 600


def generate(path: Path, video: str, seconds: float, *extra: str) -> Path:
    """A clip from a lavfi picture source with a sine tone, H.264/AAC."""
    cmd = [str(ffmpeg()), "-v", "error", "-y", "-f", "lavfi", "-i", video,
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
           "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", *extra,
           "-c:a", "aac", "-b:a", "128k", str(path)]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("presets-media")
    moving = "testsrc2=size=640x360:rate=25"
    still = "testsrc2=size=640x360:rate=25,trim=end_frame=1,loop=loop=-1:size=1,setpts=N/25/TB"
    noisy = "color=c=gray:size=640x360:rate=25,noise=alls=60:allf=t+u"
    return {
        "moving": generate(folder / "moving.mp4", moving, 3, "-preset", "ultrafast"),
        "short": generate(folder / "short.mp4", moving, 2, "-preset", "ultrafast"),
        "still": generate(folder / "still.mp4", still, 3, "-crf", "18"),
        "noisy": generate(folder / "noisy.mp4", noisy, 3, "-preset", "ultrafast", "-crf", "18"),
        # keyframes at 0, 1.2 and 2.0 s only: Saas*Aligned proxies must copy exactly these
        "irregular": generate(
            folder / "irregular.mp4", "testsrc2=size=854x480:rate=25", 3, "-preset",
            "ultrafast", "-g", "1000", "-sc_threshold", "0", "-force_key_frames", "0,1.2,2.0",
        ),
    }  # fmt: skip


@pytest.fixture(scope="module")
def ams(sqlite_server: ServerHandle, media: dict[str, Path]) -> Iterator[AzureMediaServices]:
    client = sdk_client(sqlite_server)
    client.mediaservices.begin_create_or_update(RG, ACC, MediaService(location="local")).result()
    for name, path in media.items():
        client.assets.create_or_update(RG, ACC, f"src-{name}", Asset())
        container = ContainerClient.from_container_url(sas_url(client, f"src-{name}", "ReadWrite"))
        with path.open("rb") as fh:
            container.upload_blob(path.name, fh)
    client.streaming_endpoints.begin_start(RG, ACC, "default").result()
    yield client


def run(ams: AzureMediaServices, preset: Any, job_input: Any, output: str,
        override: Any = None) -> Job:
    """Create a transform with ``preset`` and run one job into asset ``output``."""
    transform = f"t-{output}"
    ams.transforms.create_or_update(RG, ACC, transform, Transform(
        outputs=[TransformOutput(preset=preset)]))
    ams.assets.create_or_update(RG, ACC, output, Asset())
    ams.jobs.create(RG, ACC, transform, "job", Job(input=job_input, outputs=[
        JobOutputAsset(asset_name=output, preset_override=override)]))
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        job = ams.jobs.get(RG, ACC, transform, "job")
        if job.state in ("Finished", "Error", "Canceled"):
            assert job.state == "Finished", job.outputs[0].error and job.outputs[0].error.message
            return job
        time.sleep(0.3)
    raise AssertionError(f"job of {output} did not finish")


def builtin(name: str, **config: Any) -> BuiltInStandardEncoderPreset:
    configurations = PresetConfigurations(**config) if config else None
    return BuiltInStandardEncoderPreset(preset_name=name, configurations=configurations)


def source(name: str, **clip: Any) -> JobInputAsset:
    return JobInputAsset(asset_name=f"src-{name}", **clip)


def download(ams: AzureMediaServices, asset: str, folder: Path) -> dict[str, Path]:
    """Every file of ``asset``, downloaded through its SAS URL."""
    container = ContainerClient.from_container_url(sas_url(ams, asset, "Read"))
    files = {}
    for blob in container.list_blobs():
        target = folder / blob.name
        target.write_bytes(container.download_blob(blob.name).readall())
        files[blob.name] = target
    return files


def streams(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(ffprobe()), "-v", "error", "-of", "json", "-show_streams", "-show_format",
         str(path)], check=True, capture_output=True, text=True).stdout  # fmt: skip
    return list(json.loads(out)["streams"])


def video_of(path: Path) -> dict[str, Any]:
    return next(s for s in streams(path) if s["codec_type"] == "video")


def keyframes(path: Path) -> list[float]:
    out = subprocess.run(
        [str(ffprobe()), "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=pts_time,flags", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True).stdout  # fmt: skip
    rows = [line.split(",") for line in out.splitlines() if line]
    return sorted(round(float(pts), 2) for pts, flags, *_ in rows if "K" in flags)


def videos(files: dict[str, Path]) -> list[Path]:
    """The MP4s with a video stream, highest bitrate first."""
    found = [p for n, p in files.items() if n.endswith(".mp4")
             and any(s["codec_type"] == "video" for s in streams(p))]
    return sorted(found, key=lambda p: -int(video_of(p).get("bit_rate") or 0))


def test_h265_adaptive_streaming_is_hvc1_and_gop_aligned(ams: AzureMediaServices,
                                                         tmp_path: Path) -> None:
    run(ams, builtin("H265AdaptiveStreaming"), source("moving"), "out-h265-adaptive")
    files = download(ams, "out-h265-adaptive", tmp_path)
    ladder = videos(files)
    assert len(ladder) >= 2 and any(n.endswith(".ism") for n in files), sorted(files)
    for path in ladder:
        video = video_of(path)
        assert (video["codec_name"], video["codec_tag_string"]) == ("hevc", "hvc1"), path.name
        assert keyframes(path) == [0.0, 2.0], path.name
    heights = [video_of(p)["height"] for p in ladder]
    assert heights == sorted(heights, reverse=True) and heights[0] == 360
    audio = [p for n, p in files.items() if "_AACAudio_" in n and n.endswith(".mp4")]
    assert len(audio) == 1 and streams(audio[0])[0]["codec_name"] == "aac"


@pytest.mark.parametrize(("name", "size"), [
    ("H265SingleBitrate720p", (1280, 720)),
    ("H265SingleBitrate1080p", (1920, 1080)),
    ("H265SingleBitrate4K", (3840, 2160)),
])
def test_h265_single_bitrate(ams: AzureMediaServices, tmp_path: Path, name: str,
                             size: tuple[int, int]) -> None:
    output = f"out-{name.lower()}"
    # 4K HEVC is slow on two cores: encode the first second only
    clip = {"end": AbsoluteClipTime(time="PT1S")} if name.endswith("4K") else {}
    run(ams, builtin(name, complexity="Speed"), source("short", **clip), output)
    files = download(ams, output, tmp_path)
    mp4s = [p for n, p in files.items() if n.endswith(".mp4")]
    assert len(mp4s) == 1, sorted(files)
    kinds = {s["codec_type"]: s for s in streams(mp4s[0])}
    video = kinds["video"]
    assert (video["codec_name"], video["codec_tag_string"]) == ("hevc", "hvc1")
    assert (video["width"], video["height"]) == size
    assert kinds["audio"]["codec_name"] == "aac"  # interleaved, as AMS's single-bitrate presets
    assert keyframes(mp4s[0]) == [0.0]  # 2 s clip, 2 s GOP


def test_dd_good_quality_audio(ams: AzureMediaServices, tmp_path: Path) -> None:
    run(ams, builtin("DDGoodQualityAudio"), source("moving"), "out-dd")
    files = download(ams, "out-dd", tmp_path)
    mp4s = [p for n, p in files.items() if n.endswith(".mp4")]
    assert [p.name for p in mp4s] == ["moving_DDAudio_192.mp4"]
    (audio,) = streams(mp4s[0])
    assert (audio["codec_name"], audio["codec_tag_string"]) == ("ac3", "ac-3")
    assert (audio["channels"], int(audio["bit_rate"])) == (2, 192000)


@pytest.mark.parametrize("name", ["ContentAwareEncoding", "H265ContentAwareEncoding"])
def test_content_aware_ladder_follows_the_source(ams: AzureMediaServices, tmp_path: Path,
                                                 name: str) -> None:
    ladders = {}
    for kind in ("still", "noisy"):
        output = f"out-{name.lower()}-{kind}"
        run(ams, builtin(name, complexity="Speed"), source(kind), output)
        folder = tmp_path / kind
        folder.mkdir()
        files = download(ams, output, folder)
        rungs = videos(files)
        codec = "hevc" if name.startswith("H265") else "h264"
        assert all(video_of(p)["codec_name"] == codec for p in rungs)
        # content-aware outputs interleave audio into every video MP4, as AMS's did
        assert all(len(streams(p)) == 2 for p in rungs)
        ladders[kind] = [(video_of(p)["height"], int(p.stem.rsplit("_", 1)[1])) for p in rungs]
    still, noisy = ladders["still"], ladders["noisy"]
    assert len(still) < len(noisy), ladders
    assert still[0][1] < noisy[0][1] / 2, ladders  # far fewer bits at the top
    assert noisy[0][0] == 360  # never above the source


def test_saas_copy_codec_copies(ams: AzureMediaServices, tmp_path: Path,
                                media: dict[str, Path]) -> None:
    run(ams, builtin("SaasCopyCodec"), source("irregular"), "out-saas-copy")
    files = download(ams, "out-saas-copy", tmp_path)
    assert sorted(files) == ["irregular.ism", "irregular.mp4", "irregular.mp4.ovi"]
    copied = {s["codec_type"]: s for s in streams(files["irregular.mp4"])}
    original = {s["codec_type"]: s for s in streams(media["irregular"])}
    assert copied["video"]["nb_frames"] == original["video"]["nb_frames"]
    assert keyframes(files["irregular.mp4"]) == [0.0, 1.2, 2.0]


def test_saas_source_aligned_proxy_keeps_the_source_gops(ams: AzureMediaServices,
                                                        tmp_path: Path) -> None:
    run(ams, builtin("SaasSourceAligned360pOnly"), source("irregular"), "out-saas-360")
    files = download(ams, "out-saas-360", tmp_path)
    proxies = [p for n, p in files.items() if n.endswith(".mp4") and n != "irregular.mp4"]
    assert len(proxies) == 1, sorted(files)
    video = video_of(proxies[0])
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 640, 360)
    assert keyframes(proxies[0]) == keyframes(files["irregular.mp4"]) == [0.0, 1.2, 2.0]


def hevc_dd_preset() -> StandardEncoderPreset:
    layers = [
        H265Layer(bitrate=600_000, width="640", height="360", label="hd", profile="Main",
                  level="3.1", b_frames=2, adaptive_b_frame=False, slices=1),
        H265Layer(bitrate=250_000, width="320", height="180", label="sd", profile="Main"),
    ]
    return StandardEncoderPreset(
        codecs=[H265Video(layers=layers, key_frame_interval="PT1S", complexity="Speed"),
                DDAudio(channels=2, sampling_rate=48000, bitrate=128000, label="dd")],
        formats=[Mp4Format(filename_pattern="{Basename}_{Label}_{Bitrate}{Extension}")],
    )


def test_h265_layers_and_dd_audio_as_preset_override_stream_as_fmp4(
    ams: AzureMediaServices, sqlite_server: ServerHandle, tmp_path: Path
) -> None:
    run(ams, builtin("AdaptiveStreaming"), source("moving"), "out-hevc-dd",
        override=hevc_dd_preset())
    files = download(ams, "out-hevc-dd", tmp_path)
    hd = files["moving_hd_600.mp4"]
    kinds = {s["codec_type"]: s for s in streams(hd)}
    assert (kinds["video"]["codec_tag_string"], kinds["video"]["profile"]) == ("hvc1", "Main")
    assert kinds["video"]["level"] == 93  # level 3.1
    assert (kinds["audio"]["codec_name"], kinds["audio"]["codec_tag_string"]) == ("ac3", "ac-3")
    assert keyframes(hd) == keyframes(files["moving_sd_250.mp4"]) == [0.0, 1.0, 2.0]

    ams.streaming_locators.create(RG, ACC, "loc-hevc", StreamingLocator(
        asset_name="out-hevc-dd", streaming_policy_name="Predefined_ClearStreamingOnly"))
    paths = ams.streaming_locators.list_paths(RG, ACC, "loc-hevc").streaming_paths
    hls = next(p.paths[0] for p in paths if p.streaming_protocol == "Hls")
    base = sqlite_server.base_url + hls.split("(format=")[0]
    ts = httpx.get(base + "(format=m3u8-aapl)", timeout=30)
    assert ts.status_code == 400 and "m3u8-cmaf" in ts.text and "HEVC" in ts.text
    master = httpx.get(base + "(format=m3u8-cmaf)", timeout=30)
    assert master.status_code == 200
    assert 'CODECS="hvc1.1.6.L93.' in master.text and "ac-3" in master.text, master.text
    mpd = httpx.get(base + "(format=mpd-time-cmaf)", timeout=30)
    assert mpd.status_code == 200 and 'codecs="hvc1.1.6.L93.' in mpd.text and "ac-3" in mpd.text
    # Debian's Chromium has no HEVC decoder for MSE
    # (MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L93.B0"') is false), so
    # the HLS fMP4 and DASH streams are decoded with ffmpeg instead of hls.js/dash.js.
    hls_url = base + "(format=m3u8-cmaf)"
    ffmpeg_decode(hls_url)
    assert count_frames(hls_url) == 75 and count_frames(hls_url, "a:0") > 0
    reps = dash_segment_urls(base + "(format=mpd-time-cmaf)", mpd.text)
    assert len(reps) == 3  # two HEVC layers and the AC-3 audio
    for rep_id, urls in reps.items():
        target = tmp_path / f"dash-{len(urls)}-{abs(hash(rep_id))}.mp4"
        target.write_bytes(b"".join(httpx.get(u, timeout=30).content for u in urls))
        ffmpeg_decode(str(target))
        (stream,) = streams(target)
        if stream["codec_type"] == "video":
            assert stream["codec_name"] == "hevc" and count_frames(str(target)) == 75
        else:
            assert stream["codec_name"] == "ac3" and count_frames(str(target), "a:0") > 0


def test_job_input_sequence_stitches_and_inserts(ams: AzureMediaServices,
                                                 tmp_path: Path) -> None:
    small = StandardEncoderPreset(
        codecs=[H264Video(layers=[H264Layer(bitrate=300_000, width="320", height="180")],
                          complexity="Speed")],
        formats=[Mp4Format(filename_pattern="{Basename}{Extension}")],
    )
    stitched = JobInputSequence(inputs=[source("moving"), source("short")])
    run(ams, small, stitched, "out-sequence")
    (out,) = [p for n, p in download(ams, "out-sequence", tmp_path).items() if n.endswith("mp4")]
    assert abs(float(video_of(out)["duration"]) - 5.0) < 0.05  # 3 s + 2 s
    # insert 'short' into 'moving' at 1 s: moving[0,1) + short + moving[1,3)
    inserted = JobInputSequence(inputs=[
        source("moving", end=AbsoluteClipTime(time="PT1S")),
        source("short"),
        source("moving", start=AbsoluteClipTime(time="PT1S")),
    ])
    run(ams, small, inserted, "out-insert")
    folder = tmp_path / "insert"
    folder.mkdir()
    (out,) = [p for n, p in download(ams, "out-insert", folder).items() if n.endswith("mp4")]
    assert abs(float(video_of(out)["duration"]) - 5.0) < 0.05


def test_clip_start_end_gives_the_clipped_duration(ams: AzureMediaServices,
                                                   tmp_path: Path) -> None:
    clip = source("moving", start=AbsoluteClipTime(time="PT0.5S"),
                  end=AbsoluteClipTime(time="PT2.5S"))
    run(ams, builtin("H264SingleBitrateSD", complexity="Speed"), clip, "out-clip")
    (out,) = [p for n, p in download(ams, "out-clip", tmp_path).items() if n.endswith("mp4")]
    assert abs(float(video_of(out)["duration"]) - 2.0) < 0.05


def test_crop_and_rotation_show_in_the_frames(ams: AzureMediaServices, tmp_path: Path) -> None:
    layer = H264Layer(bitrate=300_000)  # the source's (filtered) size
    video = H264Video(layers=[layer], complexity="Speed")
    formats = [Mp4Format(filename_pattern="{Basename}{Extension}")]
    crop = StandardEncoderPreset(codecs=[video], formats=formats, filters=Filters(
        crop=Rectangle(left="40", top="20", width="320", height="240")))
    rotate = StandardEncoderPreset(codecs=[video], formats=formats,
                                   filters=Filters(rotation="Rotate90"))
    run(ams, crop, source("short"), "out-crop")
    run(ams, rotate, source("short"), "out-rotate")
    for asset, size in (("out-crop", (320, 240)), ("out-rotate", (360, 640))):
        folder = tmp_path / asset
        folder.mkdir()
        (out,) = [p for n, p in download(ams, asset, folder).items() if n.endswith("mp4")]
        video = video_of(out)
        assert (video["width"], video["height"]) == size, asset


def pixel(path: Path, at_seconds: float, x: int, y: int) -> tuple[int, ...]:
    """The RGB value of one decoded pixel at a time."""
    out = subprocess.run(
        [str(ffmpeg()), "-v", "error", "-ss", str(at_seconds), "-i", str(path), "-frames:v", "1",
         "-vf", f"format=rgb24,crop=1:1:{x}:{y}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True, timeout=60).stdout  # fmt: skip
    return tuple(out[:3])


def mean_volume_db(path: Path, start: float, seconds: float) -> float:
    err = subprocess.run(
        [str(ffmpeg()), "-v", "info", "-ss", str(start), "-t", str(seconds), "-i", str(path),
         "-vn", "-af", "volumedetect", "-f", "null", "-"],
        check=True, capture_output=True, text=True, timeout=60).stderr  # fmt: skip
    line = next(x for x in err.splitlines() if "mean_volume" in x)
    return float(line.split("mean_volume:")[1].split("dB")[0])


@pytest.fixture(scope="module")
def overlay_inputs(ams: AzureMediaServices, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A black, silent 3-s main input, a red JPEG logo and a 1 kHz tone, as assets."""
    folder = tmp_path_factory.mktemp("overlay-media")
    tool = str(ffmpeg())
    made = {
        "black.mp4": ["-f", "lavfi", "-i", "color=c=black:size=320x240:rate=25:duration=3",
                      "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "3",
                      "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
        "logo.jpg": ["-f", "lavfi", "-i", "color=c=red:size=64x64", "-frames:v", "1"],
        "tone.m4a": ["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=3",
                     "-c:a", "aac"],
    }  # fmt: skip
    for name, args in made.items():
        subprocess.run([tool, "-v", "error", "-y", *args, str(folder / name)], check=True)
        asset = "src-" + name.split(".")[0]
        ams.assets.create_or_update(RG, ACC, asset, Asset())
        container = ContainerClient.from_container_url(sas_url(ams, asset, "ReadWrite"))
        with (folder / name).open("rb") as fh:
            container.upload_blob(name, fh)


def test_image_and_audio_overlays(ams: AzureMediaServices, overlay_inputs: None,
                                  tmp_path: Path) -> None:
    preset = StandardEncoderPreset(
        codecs=[H264Video(layers=[H264Layer(bitrate=300_000)], complexity="Speed"),
                AacAudio(bitrate=128_000)],
        formats=[Mp4Format(filename_pattern="{Basename}{Extension}")],
        filters=Filters(overlays=[
            VideoOverlay(input_label="logo", start="PT1S", end="PT2S",
                         position=Rectangle(left="20", top="20", width="100", height="100"),
                         opacity=1.0),
            AudioOverlay(input_label="tone", start="PT1S", end="PT2S", audio_gain_level=0.5),
        ]),
    )
    inputs = JobInputs(inputs=[
        JobInputAsset(asset_name="src-black"),
        JobInputAsset(asset_name="src-logo", label="logo"),
        JobInputAsset(asset_name="src-tone", label="tone"),
    ])
    run(ams, preset, inputs, "out-overlay")
    (out,) = [p for n, p in download(ams, "out-overlay", tmp_path).items() if n.endswith("mp4")]
    assert abs(float(video_of(out)["duration"]) - 3.0) < 0.05  # the main input's length
    red = pixel(out, 1.5, 70, 70)
    assert red[0] > 180 and red[1] < 80 and red[2] < 80, red  # inside the scaled logo
    assert max(pixel(out, 1.5, 150, 150)) < 40  # outside it: still black
    assert max(pixel(out, 0.5, 70, 70)) < 40  # before start: no logo
    assert max(pixel(out, 2.5, 70, 70)) < 40  # after end: gone
    assert -36 < mean_volume_db(out, 1.2, 0.6) < -27  # the tone (sine: -24 dB) at gain 0.5
    assert mean_volume_db(out, 0.1, 0.6) < -60  # silence before it
