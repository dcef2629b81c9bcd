"""Turning a job's input description into local files the encoder can read."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from openvod.clock import parse_duration
from openvod.errors import MediaError, NotFoundError, OpenvodError
from openvod.services import jobs as job_rules
from openvod.services.locators import INTERNAL_SUFFIXES
from openvod.storage.store import BlobStore


class DownloadError(OpenvodError):
    """An input could not be fetched."""

    code = "DownloadNotAccessible"


@dataclass(frozen=True)
class LocalInput:
    """One input file on local disk, with the clip the job asks for."""

    path: Path
    start_seconds: float | None
    end_seconds: float | None
    label: str | None = None


def _clip(value: dict[str, Any] | None) -> float | None:
    if not value:
        return None
    return parse_duration(str(value["time"])).total_seconds()


def _flatten(spec: dict[str, Any]) -> list[dict[str, Any]]:
    # JobInputs and JobInputSequence both stitch their clips in order (one source).
    if spec.get("@odata.type") in (job_rules.INPUTS, job_rules.SEQUENCE):
        return [item for inner in spec["inputs"] for item in _flatten(inner)]
    return [spec]


def resolve_inputs(
    spec: dict[str, Any],
    *,
    asset_container: dict[str, str],
    store: BlobStore,
    work_dir: Path,
    allowed_hosts: list[str],
    max_bytes: int,
) -> list[LocalInput]:
    """Every input of a job as local files (store files in place when the store is local).

    ``asset_container`` maps asset names (lower-cased) to their containers.
    """
    result: list[LocalInput] = []
    for item in _flatten(spec):
        start, end = _clip(item.get("start")), _clip(item.get("end"))
        if item.get("@odata.type") == job_rules.HTTP_INPUT:
            paths = _download_http(item, work_dir, allowed_hosts, max_bytes)
        else:
            container = asset_container[str(item["assetName"]).lower()]
            paths = _asset_files(store, container, item.get("files"), work_dir)
        result.extend(LocalInput(p, start, end, item.get("label")) for p in paths)
    if not result:
        raise MediaError("The job input has no files to encode.", code="ContentMalformed")
    return result


def _asset_files(
    store: BlobStore, container: str, files: list[str] | None, work_dir: Path
) -> list[Path]:
    if files:
        names = list(files)
    else:
        names = [
            b.name for b in store.list_blobs(container)
            if not b.name.lower().endswith(INTERNAL_SUFFIXES)
        ]
    if not names:
        raise MediaError(
            "The input asset has no files; upload the mezzanine file first.",
            code="ContentMalformed",
        )
    paths = []
    for name in names:
        try:
            local = store.local_path(container, name)
            if local is None:
                target = work_dir / "inputs" / Path(name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                with store.open_read(container, name) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                local = target
        except NotFoundError as exc:
            raise MediaError(f"The input file '{name}' is not in the input asset.",
                             code="ContentMalformed") from exc
        paths.append(local)
    return paths


def _download_http(
    item: dict[str, Any], work_dir: Path, allowed_hosts: list[str], max_bytes: int
) -> list[Path]:
    job_rules.check_http_input(item, "input", allowed_hosts)
    base = item.get("baseUri") or ""
    urls = [base + f for f in item.get("files") or []] or [base]
    target_dir = work_dir / "inputs"
    target_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, url in enumerate(urls):
        name = Path(unquote(urlsplit(url).path)).name or f"input{index}"
        target = target_dir / f"{index:03d}-{name}"
        try:
            with httpx.stream("GET", url, follow_redirects=False, timeout=30) as response:
                if response.status_code != 200:
                    raise DownloadError(
                        f"Downloading {url} failed with HTTP {response.status_code}."
                    )
                size = 0
                with target.open("wb") as fh:
                    for chunk in response.iter_bytes(1024 * 1024):
                        size += len(chunk)
                        if size > max_bytes:
                            raise DownloadError(f"{url} is larger than {max_bytes} bytes.")
                        fh.write(chunk)
        except httpx.HTTPError as exc:
            raise DownloadError(f"Downloading {url} failed: {exc}") from exc
        paths.append(target)
    return paths
