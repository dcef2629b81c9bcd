"""The end-to-end workflow the CLI offers: upload → encode → publish → URLs.

It talks to openvod only through its public APIs (management API and blob SAS),
exactly as a migrating AMS user's code does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient

from openvod.client.rest import OpenvodClient
from openvod.clock import iso, utcnow

Progress = Callable[[str, float, float], None]  # (stage, done, total)


@dataclass
class Published:
    """What a user needs to play or download an asset."""

    asset: str
    output_asset: str
    locator: str | None
    streaming_urls: dict[str, list[str]] = field(default_factory=dict)
    download_urls: list[str] = field(default_factory=list)
    job_state: str = ""
    job_error: str | None = None


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:60] or "asset"


def upload_file(client: OpenvodClient, path: Path, asset: str, progress: Progress) -> None:
    """Create the asset and upload one file through its container SAS URL."""
    client.call("PUT", f"/assets/{asset}", {"properties": {"description": path.name}})
    expiry = iso(utcnow() + timedelta(hours=1))
    sas = client.call(
        "POST", f"/assets/{asset}/listContainerSas",
        {"permissions": "ReadWrite", "expiryTime": expiry},
    )["assetContainerSasUrls"][0]
    total = path.stat().st_size
    container = ContainerClient.from_container_url(sas)
    with path.open("rb") as fh:
        container.upload_blob(
            path.name, fh, overwrite=True, max_concurrency=4, length=total,
            progress_hook=lambda done, _t: progress("upload", float(done), float(total)),
        )


def ensure_transform(client: OpenvodClient, preset: str) -> str:
    """A transform running one built-in preset, named after it."""
    name = f"builtin-{preset}"
    client.call("PUT", f"/transforms/{name}", {"properties": {"outputs": [{"preset": {
        "@odata.type": "#Microsoft.Media.BuiltInStandardEncoderPreset", "presetName": preset,
    }}]}})
    return name


def encode(client: OpenvodClient, asset: str, preset: str, progress: Progress) -> tuple[str, Any]:
    """Run a built-in preset on an asset into a new output asset; returns (output, job doc)."""
    transform = ensure_transform(client, preset)
    output = f"{asset}-{preset.lower()}"
    client.call("PUT", f"/assets/{output}", {"properties": {}})
    job = f"job-{uuid.uuid4().hex[:12]}"
    client.call("PUT", f"/transforms/{transform}/jobs/{job}", {"properties": {
        "input": {"@odata.type": "#Microsoft.Media.JobInputAsset", "assetName": asset},
        "outputs": [{"@odata.type": "#Microsoft.Media.JobOutputAsset", "assetName": output}],
    }})
    doc = client.wait_for_job(
        transform, job, on_progress=lambda pct, _s: progress("encode", pct, 100.0)
    )
    return output, doc


def publish(client: OpenvodClient, asset: str, policy: str, base_url: str) -> Published:
    """Create a locator, start the default endpoint, and return absolute URLs."""
    locator = f"{asset}-locator"[:260]
    existing = {loc["name"] for loc in client.list("/streamingLocators")}
    if locator not in existing:
        client.call("PUT", f"/streamingLocators/{locator}", {"properties": {
            "assetName": asset, "streamingPolicyName": policy,
        }})
    endpoint = client.call("GET", "/streamingEndpoints/default")
    if endpoint["properties"]["resourceState"] != "Running":
        client.call("POST", "/streamingEndpoints/default/start")
    paths = client.call("POST", f"/streamingLocators/{locator}/listPaths")
    base = base_url.rstrip("/")
    result = Published(asset=asset, output_asset=asset, locator=locator)
    for item in paths["streamingPaths"]:
        result.streaming_urls.setdefault(item["streamingProtocol"], []).extend(
            base + p for p in item["paths"]
        )
    result.download_urls = [base + p for p in paths["downloadPaths"]]
    return result


def upload_encode_publish(
    client: OpenvodClient,
    path: Path,
    *,
    asset: str | None,
    preset: str,
    policy: str | None,
    progress: Progress,
) -> Published:
    """The whole workflow for one file."""
    name = asset or f"{_safe_name(path.stem)}-{uuid.uuid4().hex[:6]}"
    upload_file(client, path, name, progress)
    output, job = encode(client, name, preset, progress)
    state = job["properties"]["state"]
    if state != "Finished":
        errors = [o.get("error") for o in job["properties"]["outputs"] if o.get("error")]
        message = errors[0]["message"] if errors else state
        return Published(asset=name, output_asset=output, locator=None, job_state=state,
                         job_error=message)
    if policy is None:
        return Published(asset=name, output_asset=output, locator=None, job_state=state)
    published = publish(client, output, policy, client.base_url)
    published.asset, published.job_state = name, state
    return published
