"""Acceptance: an AMS user's SDK code, unchanged but for endpoint and credential.

Upload a 10-s 1080p mezzanine through the container SAS URL, encode it with
AdaptiveStreaming, download the renditions and check them with ffprobe, run a
custom StandardEncoderPreset, and publish with a locator.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import (
    AacAudio,
    Asset,
    BuiltInStandardEncoderPreset,
    H264Layer,
    H264Video,
    Job,
    JobInputAsset,
    JobOutputAsset,
    ListContainerSasInput,
    MediaService,
    Mp4Format,
    PngFormat,
    PngImage,
    PngLayer,
    StandardEncoderPreset,
    StreamingLocator,
    Transform,
    TransformOutput,
)
from azure.storage.blob import ContainerClient

from openvod.clock import utcnow
from openvod.encoding.tools import ffprobe
from tests.conftest import ACCOUNT, RESOURCE_GROUP, ServerHandle, make_clip
from tests.test_api_sdk import sdk_client

RG, ACC = RESOURCE_GROUP, ACCOUNT
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ams(sqlite_server: ServerHandle) -> Iterator[AzureMediaServices]:
    client = sdk_client(sqlite_server)
    client.mediaservices.begin_create_or_update(RG, ACC, MediaService(location="local")).result()
    yield client


@pytest.fixture(scope="module")
def mezzanine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10-s 1080p clip with audio, at a mezzanine-like bitrate."""
    return make_clip(tmp_path_factory.mktemp("mezz") / "mezzanine.mp4", seconds=10,
                     size="1920x1080", extra=["-b:v", "8M"])


def sas_url(ams: AzureMediaServices, asset: str, permissions: str) -> str:
    result = ams.assets.list_container_sas(RG, ACC, asset, ListContainerSasInput(
        permissions=permissions, expiry_time=utcnow() + timedelta(hours=1)))
    return str(result.asset_container_sas_urls[0])


def run_job(ams: AzureMediaServices, transform: str, job: str, source: str, output: str,
            timeout_s: float = 600) -> Job:
    ams.assets.create_or_update(RG, ACC, output, Asset())
    ams.jobs.create(RG, ACC, transform, job, Job(
        input=JobInputAsset(asset_name=source), outputs=[JobOutputAsset(asset_name=output)]))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = ams.jobs.get(RG, ACC, transform, job)
        if current.state in ("Finished", "Error", "Canceled"):
            return current
        time.sleep(0.5)
    raise AssertionError(f"job {job} did not finish")


def probe_json(path: Path, *args: str) -> dict:
    out = subprocess.run([str(ffprobe()), "-v", "error", "-of", "json", *args, str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def keyframe_times(path: Path) -> list[float]:
    data = probe_json(path, "-select_streams", "v:0", "-skip_frame", "nokey",
                      "-show_entries", "frame=pts_time")
    return [round(float(f["pts_time"]), 3) for f in data["frames"]]


def stream_durations(path: Path) -> dict[str, float]:
    data = probe_json(path, "-show_entries", "stream=codec_type,duration")
    return {s["codec_type"]: float(s["duration"]) for s in data["streams"]}


@pytest.fixture(scope="module")
def uploaded(ams: AzureMediaServices, mezzanine: Path) -> str:
    ams.assets.create_or_update(RG, ACC, "mezz", Asset(description="1080p mezzanine"))
    container = ContainerClient.from_container_url(
        sas_url(ams, "mezz", "ReadWrite"),
        max_single_put_size=2 * 1024 * 1024, max_block_size=1024 * 1024,  # force Put Block
    )
    with mezzanine.open("rb") as fh:
        container.upload_blob(mezzanine.name, fh, max_concurrency=4)
    names = [b.name for b in container.list_blobs()]
    assert names == [mezzanine.name]
    return "mezz"


def test_adaptive_streaming_end_to_end(ams: AzureMediaServices, uploaded: str,
                                       tmp_path: Path) -> None:
    ams.transforms.create_or_update(RG, ACC, "adaptive", Transform(outputs=[TransformOutput(
        preset=BuiltInStandardEncoderPreset(preset_name="AdaptiveStreaming"))]))
    job = run_job(ams, "adaptive", "job-adaptive", uploaded, "mezz-adaptive")
    assert job.state == "Finished", job.outputs[0].error and job.outputs[0].error.message
    assert job.outputs[0].progress == 100 and job.start_time and job.end_time

    container = ContainerClient.from_container_url(sas_url(ams, "mezz-adaptive", "Read"))
    names = sorted(b.name for b in container.list_blobs())
    mp4s = [n for n in names if n.endswith(".mp4")]
    assert len(mp4s) >= 3, names
    assert any(n.endswith(".ism") for n in names)
    source = stream_durations(Path(_download(container, "x", tmp_path, ams, uploaded)))
    frame = 1 / 25
    reference: list[float] | None = None
    # AMS's AdaptiveStreaming writes video-only renditions plus one AAC audio MP4
    # (interleaveOutput defaults to NonInterleavedOutput).
    audio_files = [n for n in mp4s if "_AACAudio_" in n]
    assert len(audio_files) == 1, names
    videos = [n for n in mp4s if n not in audio_files]
    assert len(videos) >= 3, names
    for name in mp4s:
        local = tmp_path / name
        local.write_bytes(container.download_blob(name).readall())
        durations = stream_durations(local)
        if name in audio_files:
            assert set(durations) == {"audio"}
            assert abs(durations["audio"] - source["audio"]) <= frame + 0.03, durations
            continue
        keys = keyframe_times(local)
        assert keys == [round(2.0 * i, 3) for i in range(len(keys))], (name, keys)
        reference = reference or keys
        assert keys == reference  # aligned across renditions
        assert abs(durations["video"] - source["video"]) <= frame + 1e-6, (name, durations)
        height = probe_json(local, "-show_entries", "stream=height")["streams"][0]["height"]
        assert height <= 1080  # never upscaled

    ams.streaming_locators.create(RG, ACC, "loc-adaptive", StreamingLocator(
        asset_name="mezz-adaptive", streaming_policy_name="Predefined_ClearStreamingOnly"))
    paths = ams.streaming_locators.list_paths(RG, ACC, "loc-adaptive")
    protocols = {p.streaming_protocol: p.paths for p in paths.streaming_paths}
    assert set(protocols) == {"Hls", "Dash", "SmoothStreaming"}
    assert any(p.endswith(".ism/manifest(format=m3u8-aapl)") for p in protocols["Hls"])
    assert any("format=mpd-time" in p for p in protocols["Dash"])
    assert protocols["SmoothStreaming"][0].endswith(".ism/manifest")
    assert paths.download_paths == []  # ClearStreamingOnly does not enable download


def _download(container: ContainerClient, _: str, tmp: Path, ams: AzureMediaServices,
              asset: str) -> Path:
    src = ContainerClient.from_container_url(sas_url(ams, asset, "Read"))
    target = tmp / "source.mp4"
    target.write_bytes(src.download_blob("mezzanine.mp4").readall())
    return target


def test_custom_preset_file_names(ams: AzureMediaServices, uploaded: str) -> None:
    preset = StandardEncoderPreset(
        codecs=[
            AacAudio(channels=2, sampling_rate=48000, bitrate=128000, profile="AacLc"),
            H264Video(key_frame_interval=timedelta(seconds=2), complexity="Speed", layers=[
                H264Layer(bitrate=1000000, width="640", height="360", label="SD"),
                H264Layer(bitrate=600000, width="480", height="270", label="Low"),
            ]),
            PngImage(start="25%", step="25%", range="80%",
                     layers=[PngLayer(width="50%", height="50%")]),
        ],
        formats=[
            Mp4Format(filename_pattern="Video-{Basename}-{Label}-{Bitrate}{Extension}"),
            PngFormat(filename_pattern="Thumbnail-{Basename}-{Index}{Extension}"),
        ],
    )
    ams.transforms.create_or_update(RG, ACC, "custom", Transform(outputs=[
        TransformOutput(preset=preset)]))
    job = run_job(ams, "custom", "job-custom", uploaded, "mezz-custom")
    assert job.state == "Finished", job.outputs[0].error and job.outputs[0].error.message
    container = ContainerClient.from_container_url(sas_url(ams, "mezz-custom", "Read"))
    names = {b.name for b in container.list_blobs()}
    media = {n for n in names if not n.endswith(".ovi")}
    assert {"Video-mezzanine-SD-1000.mp4", "Video-mezzanine-Low-600.mp4"} <= media, names
    thumbs = sorted(n for n in media if n.startswith("Thumbnail-"))
    assert len(thumbs) >= 2, names
    assert thumbs == [f"Thumbnail-mezzanine-{i:06d}.png" for i in range(1, len(thumbs) + 1)]
    assert "mezzanine.ism" in media
