"""Blob response headers and the streamed file response."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import BinaryIO

from anyio import to_thread
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from openvod.httpkit.dates import format_http_date
from openvod.storage.store import BlobInfo

STREAM_CHUNK_BYTES = 256 * 1024


def _md5_text(info: BlobInfo) -> dict[str, str]:
    if info.content_md5 is None:
        return {}
    return {"content-md5": base64.b64encode(info.content_md5).decode()}


def blob_headers(info: BlobInfo) -> dict[str, str]:
    """Headers of Get Blob and Get Blob Properties (Content-Length is the whole blob)."""
    return {
        "content-length": str(info.size_bytes),
        "content-type": info.content_type,
        "etag": info.etag,
        "last-modified": format_http_date(info.last_modified),
        "accept-ranges": "bytes",
        "x-ms-blob-type": "BlockBlob",
        "x-ms-creation-time": format_http_date(info.last_modified),
        "x-ms-lease-status": "unlocked",
        "x-ms-lease-state": "available",
        "x-ms-server-encrypted": "false",
        "x-ms-access-tier": "Hot",
        "x-ms-access-tier-inferred": "true",
        **_md5_text(info),
    }


def written_headers(info: BlobInfo) -> dict[str, str]:
    """Headers of Put Blob and Put Block List."""
    return {
        "etag": info.etag,
        "last-modified": format_http_date(info.last_modified),
        "x-ms-request-server-encrypted": "false",
        **_md5_text(info),
    }


class FileRangeResponse(Response):
    """Streams ``length`` bytes from ``offset`` of an open file, then closes it.

    Reads happen in a worker thread, a chunk at a time: a blob is never held
    in memory whole, and the file is closed even if the client goes away.
    """

    def __init__(
        self,
        handle: BinaryIO,
        offset: int,
        length: int,
        *,
        status_code: int,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(content=None, status_code=status_code, headers=headers)
        self._handle = handle
        self._offset = offset
        self._length = length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the headers, then the byte range."""
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            await to_thread.run_sync(self._handle.seek, self._offset)
            remaining = self._length
            while remaining > 0:
                size = min(STREAM_CHUNK_BYTES, remaining)
                chunk = await to_thread.run_sync(self._handle.read, size)
                if not chunk:
                    break  # the server closes the connection: shorter than Content-Length
                remaining -= len(chunk)
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": remaining > 0}
                )
            if self._length == 0 or remaining > 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._handle.close()
