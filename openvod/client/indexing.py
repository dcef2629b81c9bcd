"""``openvod upload --index``: encode and index in one job, then captions in the streams.

One transform with two outputs (the built-in encoding preset into ``{asset}-{preset}``,
an AudioAnalyzerPreset into ``{asset}-index``); when the job finishes, the captions
(transcript.vtt) are copied into the streaming asset through SAS URLs and attached as
a TextTrack, so HLS and DASH carry them. Only public APIs, as a user's code would.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from azure.storage.blob import ContainerClient

from openvod.client.rest import OpenvodClient
from openvod.client.workflow import Progress, Published, _safe_name, publish, upload_file
from openvod.clock import iso, utcnow

CAPTIONS_TRACK = "captions"
CAPTION_FILES = ("transcript.vtt", "transcript.ttml")
TRANSCRIBES_DIALOG = "public.accessibility.transcribes-spoken-dialog"  # HLS CHARACTERISTICS


def ensure_indexing_transform(client: OpenvodClient, preset: str, language: str) -> str:
    """A transform encoding with a built-in preset and indexing the speech."""
    name = f"builtin-{preset}-indexed-{language.lower()}"
    client.call("PUT", f"/transforms/{name}", {"properties": {"outputs": [
        {"preset": {"@odata.type": "#Microsoft.Media.BuiltInStandardEncoderPreset",
                    "presetName": preset}},
        {"preset": {"@odata.type": "#Microsoft.Media.AudioAnalyzerPreset",
                    "audioLanguage": language, "mode": "Standard"}},
    ]}})
    return name


def _container(client: OpenvodClient, asset: str, permissions: str) -> ContainerClient:
    sas = client.call("POST", f"/assets/{asset}/listContainerSas", {
        "permissions": permissions, "expiryTime": iso(utcnow() + timedelta(hours=1)),
    })["assetContainerSasUrls"][0]
    return ContainerClient.from_container_url(sas)


def attach_captions(client: OpenvodClient, index_asset: str, stream_asset: str) -> str:
    """Copy the captions into the streaming asset and add them as a TextTrack; the
    track's language."""
    source = _container(client, index_asset, "Read")
    target = _container(client, stream_asset, "ReadWrite")
    for name in CAPTION_FILES:
        target.upload_blob(name, source.download_blob(name).readall(), overwrite=True)
    insights: dict[str, Any] = json.loads(source.download_blob("insights.json").readall())
    language = str(insights.get("language") or "en-US")
    client.call("PUT", f"/assets/{stream_asset}/tracks/{CAPTIONS_TRACK}", {"properties": {
        "track": {"@odata.type": "#Microsoft.Media.TextTrack", "fileName": "transcript.vtt",
                  "displayName": f"Captions ({language})", "languageCode": language,
                  "playerVisibility": "Visible",
                  "hlsSettings": {"default": True, "forced": False,
                                  "characteristics": TRANSCRIBES_DIALOG}},
    }})
    return language


def upload_encode_index_publish(client: OpenvodClient, path: Path, *, asset: str | None,
                                preset: str, language: str, policy: str | None,
                                progress: Progress) -> Published:
    """Upload, encode and index in one job, attach the captions, optionally publish."""
    name = asset or f"{_safe_name(path.stem)}-{uuid.uuid4().hex[:6]}"
    upload_file(client, path, name, progress)
    transform = ensure_indexing_transform(client, preset, language)
    stream_asset, index_asset = f"{name}-{preset.lower()}", f"{name}-index"
    for output in (stream_asset, index_asset):
        client.call("PUT", f"/assets/{output}", {"properties": {}})
    job = f"job-{uuid.uuid4().hex[:12]}"
    client.call("PUT", f"/transforms/{transform}/jobs/{job}", {"properties": {
        "input": {"@odata.type": "#Microsoft.Media.JobInputAsset", "assetName": name},
        "outputs": [{"@odata.type": "#Microsoft.Media.JobOutputAsset", "assetName": a}
                    for a in (stream_asset, index_asset)],
    }})
    doc = client.wait_for_job(
        transform, job, on_progress=lambda pct, _s: progress("encode+index", pct, 100.0))
    state = doc["properties"]["state"]
    if state != "Finished":
        errors = [o.get("error") for o in doc["properties"]["outputs"] if o.get("error")]
        return Published(asset=name, output_asset=stream_asset, locator=None, job_state=state,
                         job_error=errors[0]["message"] if errors else state)
    attach_captions(client, index_asset, stream_asset)
    if policy is None:
        return Published(asset=name, output_asset=stream_asset, locator=None, job_state=state)
    published = publish(client, stream_asset, policy, client.base_url)
    published.asset, published.job_state = name, state
    return published
