"""Bad input through the public API: clear job errors, SAS refusals, cancel that kills ffmpeg."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import (
    Asset,
    BuiltInStandardEncoderPreset,
    Job,
    JobInputAsset,
    JobOutputAsset,
    ListContainerSasInput,
    MediaService,
    Transform,
    TransformOutput,
)
from azure.storage.blob import ContainerClient

from openvod.clock import utcnow
from tests.conftest import ACCOUNT, RESOURCE_GROUP, ServerHandle, make_clip
from tests.test_api_sdk import sdk_client

RG, ACC = RESOURCE_GROUP, ACCOUNT


@pytest.fixture(scope="module")
def ams(server: ServerHandle) -> Iterator[AzureMediaServices]:
    client = sdk_client(server)
    client.mediaservices.begin_create_or_update(RG, ACC, MediaService(location="local")).result()
    client.transforms.create_or_update(RG, ACC, "adaptive", Transform(outputs=[TransformOutput(
        preset=BuiltInStandardEncoderPreset(preset_name="AdaptiveStreaming"))]))
    yield client


def upload(ams: AzureMediaServices, asset: str, path: Path, permissions: str = "ReadWrite"
           ) -> ContainerClient:
    ams.assets.create_or_update(RG, ACC, asset, Asset())
    url = ams.assets.list_container_sas(RG, ACC, asset, ListContainerSasInput(
        permissions=permissions, expiry_time=utcnow() + timedelta(hours=1)
    )).asset_container_sas_urls[0]
    container = ContainerClient.from_container_url(url)
    with path.open("rb") as fh:
        container.upload_blob(path.name, fh)
    return container


def submit(ams: AzureMediaServices, job: str, source: str, output: str) -> None:
    ams.assets.create_or_update(RG, ACC, output, Asset())
    ams.jobs.create(RG, ACC, "adaptive", job, Job(
        input=JobInputAsset(asset_name=source), outputs=[JobOutputAsset(asset_name=output)]))


def wait(ams: AzureMediaServices, job: str, states: tuple[str, ...], timeout_s: float = 300
         ) -> Job:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = ams.jobs.get(RG, ACC, "adaptive", job)
        if current.state in states:
            return current
        time.sleep(0.2)
    raise AssertionError(f"{job} never reached {states}")


def test_text_file_mezzanine_is_a_readable_job_error(ams: AzureMediaServices,
                                                     tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a video\n" * 100)
    upload(ams, "text-in", notes)
    submit(ams, "text-job", "text-in", "text-out")
    job = wait(ams, "text-job", ("Finished", "Error", "Canceled"))
    assert job.state == "Error"
    error = job.outputs[0].error
    assert error.code == "ContentMalformed" and error.category == "Content"
    assert "notes.txt" in error.message and "media" in error.message.lower()
    out = ams.assets.list_container_sas(RG, ACC, "text-out", ListContainerSasInput(
        permissions="Read", expiry_time=utcnow() + timedelta(hours=1))).asset_container_sas_urls
    # nothing half-written is visible in the output asset
    assert list(ContainerClient.from_container_url(out[0]).list_blobs()) == []


def test_read_only_sas_cannot_upload(ams: AzureMediaServices, tmp_path: Path) -> None:
    ams.assets.create_or_update(RG, ACC, "ro", Asset())
    url = ams.assets.list_container_sas(RG, ACC, "ro", ListContainerSasInput(
        permissions="Read", expiry_time=utcnow() + timedelta(hours=1)
    )).asset_container_sas_urls[0]
    with pytest.raises(HttpResponseError) as info:
        ContainerClient.from_container_url(url).upload_blob("x.bin", b"data")
    assert info.value.status_code == 403
    tampered = url.replace("sig=", "sig=A")
    with pytest.raises(HttpResponseError) as info:
        list(ContainerClient.from_container_url(tampered).list_blobs())
    assert info.value.status_code == 403


def _ffmpeg_children() -> list[int]:
    """ffmpeg processes whose parent is this test process (the in-process worker)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if "ffmpeg" in name and ppid == os.getpid():
            found.append(int(pid))
    return found


def test_cancel_during_encode(ams: AzureMediaServices, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=40, size="1280x720")
    upload(ams, "long-in", clip)
    submit(ams, "long-job", "long-in", "long-out")
    wait(ams, "long-job", ("Processing",))
    deadline = time.monotonic() + 30
    while not _ffmpeg_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ffmpeg_children(), "ffmpeg never started"
    ams.jobs.cancel_job(RG, ACC, "adaptive", "long-job")
    job = wait(ams, "long-job", ("Canceled", "Finished", "Error"), timeout_s=60)
    assert job.state == "Canceled"
    assert job.outputs[0].state == "Canceled"
    deadline = time.monotonic() + 10
    while _ffmpeg_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ffmpeg_children() == []
