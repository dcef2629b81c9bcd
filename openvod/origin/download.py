"""Progressive download: ``/{locatorId}/{file}`` with Range, validators and conditional GETs.

HTTP semantics follow RFC 9110: one byte range gives 206 with Content-Range;
a range that starts past the end gives 416 with ``Content-Range: bytes */size``;
several ranges get the whole file with 200 (allowed, and simpler for players
than multipart); an unparsable Range header is ignored. If-None-Match (weak
comparison) and If-Modified-Since give 304; If-Range with a stale validator
turns a range request into a full 200.

Bodies never pass through Python in one piece: local files go out with the
ASGI ``http.response.pathsend`` extension when the server offers it, else in
chunks read with ``os.pread`` on a worker thread; other stores stream chunks
from ``open_read``.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import anyio.to_thread
from starlette.types import Scope, Send

from openvod.errors import NotFoundError
from openvod.origin.errors import RangeNotSatisfiableError
from openvod.origin.responses import (
    CORS_HEADERS,
    HeaderList,
    http_date,
    none_match,
    parse_http_date,
    send_not_modified,
)
from openvod.services.locators import INTERNAL_SUFFIXES
from openvod.storage.names import validate_blob_name
from openvod.storage.store import DEFAULT_CONTENT_TYPE, BlobInfo, BlobStore

CHUNK_BYTES = 512 * 1024
DEFAULT_MAX_AGE_SECONDS = 300
# Media types by extension, for blobs stored without one (mimetypes lacks some of these).
_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt",
    ".ttml": "application/ttml+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


@dataclass(frozen=True)
class ByteSpan:
    """The part of a file a response carries: ``length`` bytes from ``start``."""

    start: int
    length: int


def check_download_name(name: str) -> str:
    """``name`` if it may be downloaded; NotFoundError for internal files and unsafe names."""
    validate_blob_name(name)
    if name.lower().endswith(INTERNAL_SUFFIXES):
        raise NotFoundError("Not a downloadable file.")
    return name


def content_type_for(name: str, stored: str) -> str:
    """The stored content type unless it is the generic default; else by file extension."""
    if stored and stored != DEFAULT_CONTENT_TYPE:
        return stored
    extension = os.path.splitext(name)[1].lower()
    return _TYPES.get(extension) or mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE


def parse_range(value: bytes, size_bytes: int) -> ByteSpan | None:
    """The one span a Range header asks for; None to send the whole file.

    None for a malformed header, another unit, or several ranges. Raises
    RangeNotSatisfiableError when the single range does not overlap the file.
    """
    unit, _, spec = value.decode("latin-1").partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()):
        return None
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size_bytes == 0:
            raise RangeNotSatisfiableError(size_bytes)
        length = min(suffix, size_bytes)
        return ByteSpan(size_bytes - length, length)
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    start = int(first)
    end = min(int(last), size_bytes - 1) if last else size_bytes - 1
    if last and int(last) < start:
        return None  # invalid range-spec: the header is ignored
    if start >= size_bytes:
        raise RangeNotSatisfiableError(size_bytes)
    return ByteSpan(start, end - start + 1)


def not_modified(headers: dict[bytes, bytes], info: BlobInfo) -> bool:
    """Whether the conditional headers let a cache reuse what it has (304)."""
    if_none_match = headers.get(b"if-none-match")
    if if_none_match is not None:
        return none_match(if_none_match, info.etag.encode())
    since = headers.get(b"if-modified-since")
    if since is None:
        return False
    when = parse_http_date(since)
    return when is not None and info.last_modified.replace(microsecond=0) <= when


def range_allowed(headers: dict[bytes, bytes], info: BlobInfo) -> bool:
    """If-Range: ranges apply only while the validator still matches (strong comparison)."""
    if_range = headers.get(b"if-range")
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith((b'"', b"W/")):
        return if_range == info.etag.encode()
    when = parse_http_date(if_range)
    return when is not None and when == info.last_modified.replace(microsecond=0)


def base_headers(info: BlobInfo, max_age_seconds: int) -> HeaderList:
    """Validators, caching and CORS headers every download response carries."""
    return [
        *CORS_HEADERS,
        (b"accept-ranges", b"bytes"),
        (b"etag", info.etag.encode()),
        (b"last-modified", http_date(info.last_modified)),
        (b"cache-control", f"public, max-age={max_age_seconds}".encode()),
    ]


async def serve_download(
    store: BlobStore,
    container: str,
    name: str,
    scope: Scope,
    send: Send,
    *,
    headers: dict[bytes, bytes],
    max_age_seconds: int | None,
) -> None:
    """Answer a GET or HEAD for one asset file."""
    check_download_name(name)
    info = await anyio.to_thread.run_sync(store.get_info, container, name)
    head_only = scope["method"] == "HEAD"
    max_age = DEFAULT_MAX_AGE_SECONDS if max_age_seconds is None else max_age_seconds
    common = base_headers(info, max_age)
    if not_modified(headers, info):
        await send_not_modified(send, common)
        return
    span = None
    range_header = headers.get(b"range")
    if range_header is not None and range_allowed(headers, info):
        span = parse_range(range_header, info.size_bytes)
    status = 200 if span is None else 206
    span = span or ByteSpan(0, info.size_bytes)
    out = [
        *common,
        (b"content-type", content_type_for(name, info.content_type).encode()),
        (b"content-length", str(span.length).encode()),
    ]
    if status == 206:
        content_range = f"bytes {span.start}-{span.start + span.length - 1}/{info.size_bytes}"
        out.append((b"content-range", content_range.encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    if head_only or span.length == 0:
        await send({"type": "http.response.body", "body": b""})
        return
    await _send_body(store, container, name, span, scope, send)


async def _send_body(
    store: BlobStore, container: str, name: str, span: ByteSpan, scope: Scope, send: Send
) -> None:
    path = await anyio.to_thread.run_sync(store.local_path, container, name)
    if path is not None:
        whole = span.start == 0 and span.length == os.stat(path).st_size
        if whole and "http.response.pathsend" in scope.get("extensions", {}):
            await send({"type": "http.response.pathsend", "path": str(path)})
            return
        fd = await anyio.to_thread.run_sync(os.open, path, os.O_RDONLY)
        try:
            await _stream(lambda at, n: os.pread(fd, n, at), span, send)
        finally:
            os.close(fd)
        return
    handle: BinaryIO = await anyio.to_thread.run_sync(store.open_read, container, name)
    try:

        def read(at: int, n: int) -> bytes:
            handle.seek(at)
            return handle.read(n)

        await _stream(read, span, send)
    finally:
        handle.close()


async def _stream(read: Callable[[int, int], bytes], span: ByteSpan, send: Send) -> None:
    """Send ``span`` in chunks, each read on a worker thread."""
    position, remaining = span.start, span.length
    while remaining > 0:
        chunk: bytes = await anyio.to_thread.run_sync(read, position, min(CHUNK_BYTES, remaining))
        if not chunk:
            raise OSError("file shorter than its recorded size")
        position += len(chunk)
        remaining -= len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
