"""Helpers of the indexing job tests: SDK calls, uploads and downloads through SAS URLs."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import (
    Asset,
    AudioAnalyzerPreset,
    Job,
    JobInputAsset,
    JobOutputAsset,
    ListContainerSasInput,
    Transform,
    TransformOutput,
)
from azure.storage.blob import ContainerClient

from openvod.clock import utcnow
from tests.conftest import ACCOUNT, RESOURCE_GROUP

RG, ACC = RESOURCE_GROUP, ACCOUNT
FINAL = ("Finished", "Error", "Canceled")


def container(ams: AzureMediaServices, asset: str, permissions: str = "ReadWrite"
              ) -> ContainerClient:
    """The asset's container through a SAS URL (as SDK users reach it)."""
    url = ams.assets.list_container_sas(RG, ACC, asset, ListContainerSasInput(
        permissions=permissions, expiry_time=utcnow() + timedelta(hours=1),
    )).asset_container_sas_urls[0]
    return ContainerClient.from_container_url(url)


def upload(ams: AzureMediaServices, asset: str, path: Path) -> None:
    """Create an asset holding one file."""
    ams.assets.create_or_update(RG, ACC, asset, Asset())
    with path.open("rb") as fh:
        container(ams, asset).upload_blob(path.name, fh, overwrite=True)


def analyzer_transform(ams: AzureMediaServices, name: str, preset: object) -> None:
    """A transform with one analyzer preset."""
    ams.transforms.create_or_update(RG, ACC, name, Transform(
        outputs=[TransformOutput(preset=preset)]))  # type: ignore[arg-type]


def run_job(ams: AzureMediaServices, transform: str, job: str, source: str,
            outputs: list[str], timeout_s: float = 600) -> Job:
    """Submit a job and wait until it ends; returns it."""
    for output in outputs:
        ams.assets.create_or_update(RG, ACC, output, Asset())
    ams.jobs.create(RG, ACC, transform, job, Job(
        input=JobInputAsset(asset_name=source),
        outputs=[JobOutputAsset(asset_name=o) for o in outputs]))
    return wait(ams, transform, job, FINAL, timeout_s)


def wait(ams: AzureMediaServices, transform: str, job: str, states: tuple[str, ...],
         timeout_s: float = 600) -> Job:
    """Poll a job until it is in one of ``states`` (a generous bound against hangs)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = ams.jobs.get(RG, ACC, transform, job)
        if current.state in states:
            return current
        time.sleep(0.2)
    raise AssertionError(f"{job} never reached {states}")


def download(ams: AzureMediaServices, asset: str, name: str) -> bytes:
    """One file of an asset, through a read SAS."""
    return container(ams, asset, "Read").download_blob(name).readall()


def speech_preset(language: str = "en-US", mode: str = "Standard") -> AudioAnalyzerPreset:
    """The SDK's AudioAnalyzerPreset."""
    return AudioAnalyzerPreset(audio_language=language, mode=mode)
