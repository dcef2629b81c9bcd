"""The XML bodies of the Azure Blob REST API: errors, List Blobs, Put Block List."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from openvod.blob.errors import BlobServiceError
from openvod.httpkit.dates import format_http_date
from openvod.storage.store import BlobInfo

_BLOCK_KINDS = ("Committed", "Uncommitted", "Latest")


def _to_bytes(root: ET.Element) -> bytes:
    return (
        b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode").encode()
    )


def _add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = text
    return child


def build_error(code: str, message: str) -> bytes:
    """``<Error><Code>..</Code><Message>..</Message></Error>``."""
    root = ET.Element("Error")
    _add(root, "Code", code)
    _add(root, "Message", message)
    return _to_bytes(root)


@dataclass(frozen=True)
class ListPage:
    """One page of a List Blobs answer: blobs and virtual-folder prefixes, in name order."""

    entries: Sequence[BlobInfo | str]
    next_marker: str


def page_listing(
    blobs: Sequence[BlobInfo], prefix: str, delimiter: str, marker: str, max_results: int
) -> ListPage:
    """Group ``blobs`` (sorted) by ``delimiter`` and cut the page that starts at ``marker``.

    The marker is the key (blob name or prefix) of the first entry of the next
    page, so a folder prefix is never returned twice across pages.
    """
    entries: list[BlobInfo | str] = []
    seen_prefixes: set[str] = set()
    for info in blobs:
        rest = info.name[len(prefix) :]
        cut = rest.find(delimiter) if delimiter else -1
        if cut < 0:
            entries.append(info)
            continue
        folder = prefix + rest[: cut + len(delimiter)]
        if folder not in seen_prefixes:
            seen_prefixes.add(folder)
            entries.append(folder)
    entries.sort(key=_entry_key)
    remaining = [entry for entry in entries if _entry_key(entry) >= marker]
    page = remaining[:max_results]
    next_marker = _entry_key(remaining[max_results]) if len(remaining) > max_results else ""
    return ListPage(entries=page, next_marker=next_marker)


def _entry_key(entry: BlobInfo | str) -> str:
    return entry if isinstance(entry, str) else entry.name


def build_blob_list(
    *,
    service_endpoint: str,
    container: str,
    prefix: str,
    marker: str,
    max_results: int | None,
    delimiter: str,
    page: ListPage,
) -> bytes:
    """The ``EnumerationResults`` document List Blobs returns."""
    root = ET.Element(
        "EnumerationResults", ServiceEndpoint=service_endpoint, ContainerName=container
    )
    if prefix:
        _add(root, "Prefix", prefix)
    if marker:
        _add(root, "Marker", marker)
    if max_results is not None:
        _add(root, "MaxResults", str(max_results))
    if delimiter:
        _add(root, "Delimiter", delimiter)
    blobs = _add(root, "Blobs")
    for entry in page.entries:
        if isinstance(entry, str):
            _add(_add(blobs, "BlobPrefix"), "Name", entry)
        else:
            _add_blob(blobs, entry)
    _add(root, "NextMarker", page.next_marker or None)
    return _to_bytes(root)


def _add_blob(parent: ET.Element, info: BlobInfo) -> None:
    blob = _add(parent, "Blob")
    _add(blob, "Name", info.name)
    props = _add(blob, "Properties")
    _add(props, "Creation-Time", format_http_date(info.last_modified))
    _add(props, "Last-Modified", format_http_date(info.last_modified))
    _add(props, "Etag", info.etag.strip('"'))
    _add(props, "Content-Length", str(info.size_bytes))
    _add(props, "Content-Type", info.content_type)
    _add(props, "Content-Encoding")
    _add(props, "Content-Language")
    md5 = base64.b64encode(info.content_md5).decode() if info.content_md5 else None
    _add(props, "Content-MD5", md5)
    _add(props, "Cache-Control")
    _add(props, "BlobType", "BlockBlob")
    _add(props, "AccessTier", "Hot")
    _add(props, "AccessTierInferred", "true")
    _add(props, "LeaseStatus", "unlocked")
    _add(props, "LeaseState", "available")
    _add(props, "ServerEncrypted", "false")


def parse_block_list(body: bytes) -> list[tuple[str, str]]:
    """``[(kind, block_id), ...]`` of a Put Block List body; kind: Committed/Uncommitted/Latest."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise BlobServiceError(
            400, "InvalidXmlDocument", f"XML specified is not syntactically valid: {exc}"
        ) from None
    if root.tag != "BlockList":
        raise BlobServiceError(400, "InvalidXmlDocument", "The root element must be BlockList.")
    blocks = []
    for child in root:
        block_id = (child.text or "").strip()
        if child.tag not in _BLOCK_KINDS or not block_id:
            raise BlobServiceError(
                400, "InvalidXmlNodeValue", f"Unexpected block list element <{child.tag}>."
            )
        blocks.append((child.tag, block_id))
    return blocks
