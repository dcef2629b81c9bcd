"""Progressive download: ``/{locatorId}/{file}`` with Range, validators and conditional GETs.

HTTP semantics follow RFC 9110 (see :mod:`openvod.origin.selection`): one
byte range gives 206 with Content-Range; a range that starts past the end
gives 416 with ``Content-Range: bytes */size``; several ranges get the whole
file with 200 (allowed, and simpler for players than multipart); an
unparsable Range header is ignored. Preconditions are evaluated in RFC 9110's
order: If-Match and If-Unmodified-Since give 412, If-None-Match (weak
comparison) and If-Modified-Since give 304; If-Range with a stale validator
turns a range request into a full 200.

Bodies never pass through Python in one piece: local files go out with the
ASGI ``http.response.pathsend`` extension when the server offers it, else in
256 KiB chunks read with ``os.pread`` (on the event loop, as nginx reads
without aio: page-cache reads take microseconds); other stores stream chunks
from ``open_read`` on a worker thread. Opened files are kept for a couple of
seconds, so a player's burst of range requests opens the file once.
"""

from __future__ import annotations

import mimetypes
import os
import threading
from typing import BinaryIO

import anyio.to_thread
from starlette.types import Scope, Send

from openvod.errors import NotFoundError, StorageError
from openvod.httpkit.dates import format_http_date
from openvod.httpkit.ranges import ByteSpan
from openvod.origin.cache import SingleFlight, TtlCache
from openvod.origin.descriptor import OwnedDescriptor
from openvod.origin.responses import CORS_HEADERS, HeaderList, send_not_modified
from openvod.origin.selection import select
from openvod.services.locators import INTERNAL_SUFFIXES
from openvod.storage.names import validate_blob_name
from openvod.storage.sealed import PlainFile, SealedStore
from openvod.storage.store import DEFAULT_CONTENT_TYPE, BlobInfo, BlobStore

CHUNK_BYTES = 256 * 1024
DEFAULT_MAX_AGE_SECONDS = 300
KEEP_OPEN_SECONDS = 2.0  # how stale a download's view of a replaced file may be
MAX_OPEN = 256
_OPEN_ATTEMPTS = 3
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


def base_headers(info: BlobInfo, max_age_seconds: int) -> HeaderList:
    """Validators, caching and CORS headers every download response carries."""
    return [
        *CORS_HEADERS,
        (b"accept-ranges", b"bytes"),
        (b"etag", info.etag.encode()),
        (b"last-modified", format_http_date(info.last_modified).encode("ascii")),
        (b"cache-control", f"public, max-age={max_age_seconds}".encode()),
    ]


class OpenBlob(OwnedDescriptor):
    """One version of a blob: its properties and a handle that reads exactly that version.

    Kept for a second or two by :class:`Downloads`, so the range requests a
    player fires at one file cost no stat, no metadata read and no open.
    """

    def __init__(self, store: BlobStore, container: str, name: str) -> None:
        self._fd: int | None = None
        self._handle: BinaryIO | None = None
        self._lock = threading.Lock()
        self._plain: PlainFile | None = None
        self.path = store.local_path(container, name)
        for _ in range(_OPEN_ATTEMPTS):
            self.info = store.get_info(container, name)
            if self.path is None:
                if isinstance(store, SealedStore):  # storage-encrypted: decrypt what is read
                    self._plain = store.open_plain(container, name)
                    if self._plain is not None and self._plain.size_bytes != self.info.size_bytes:
                        self._plain.close()
                        continue  # replaced in between: describe and open again
                if self._plain is None:
                    self._handle = store.open_read(container, name)  # keeps the opened version
                return
            fd = os.open(self.path, os.O_RDONLY)
            if os.fstat(fd).st_size == self.info.size_bytes:
                break  # the file we opened is the one get_info described
            os.close(fd)  # replaced in between: describe and open again
        else:
            raise StorageError(f"{container}/{name} keeps changing; try again")
        self._fd = fd

    @property
    def is_local(self) -> bool:
        """True when reads are preads of a local file (fast enough for the event loop)."""
        return self._fd is not None

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset``."""
        if self._fd is not None:
            return os.pread(self._fd, size, offset)
        if self._plain is not None:
            return self._plain.read(offset, size)
        assert self._handle is not None
        with self._lock:  # one handle shared by concurrent requests: seek + read together
            self._handle.seek(offset)
            return self._handle.read(size)

    def close(self) -> None:
        """Release the descriptor or handle (idempotent)."""
        super().close()
        if self._plain is not None:
            self._plain.close()
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Downloads:
    """Progressive download of asset files, with recently opened blobs kept open."""

    def __init__(self, store: BlobStore, *, keep_open_seconds: float = KEEP_OPEN_SECONDS) -> None:
        self.store = store
        self._open: TtlCache[tuple[str, str], OpenBlob] = TtlCache(keep_open_seconds, MAX_OPEN)
        self._flights: SingleFlight[tuple[str, str], OpenBlob] = SingleFlight()

    async def open(self, container: str, name: str) -> OpenBlob:
        """The blob, opened now or a moment ago (NotFoundError if it does not exist)."""
        key = (container, name)
        blob = self._open.get(key)
        if blob is None:
            blob = await self._flights.run(key, lambda: self._open_and_keep(key))
        return blob

    async def _open_and_keep(self, key: tuple[str, str]) -> OpenBlob:
        blob: OpenBlob = await anyio.to_thread.run_sync(OpenBlob, self.store, *key)
        self._open.put(key, blob)
        return blob

    def clear(self) -> None:
        """Forget the open blobs (they close when their last request is done)."""
        self._open.clear()

    async def serve(
        self,
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
        blob = await self.open(container, name)
        info = blob.info
        max_age = DEFAULT_MAX_AGE_SECONDS if max_age_seconds is None else max_age_seconds
        common = base_headers(info, max_age)
        chosen = select(headers, etag=info.etag, last_modified=info.last_modified,
                        size_bytes=info.size_bytes)  # fmt: skip
        if chosen.status == 304:
            await send_not_modified(send, common)
            return
        status, span = chosen.status, chosen.span
        out = [
            *common,
            (b"content-type", content_type_for(name, info.content_type).encode()),
            *chosen.headers(info.size_bytes),
        ]
        await send({"type": "http.response.start", "status": status, "headers": out})
        if scope["method"] == "HEAD" or span.length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        await _send_body(blob, span, scope, send)


def _can_pathsend(blob: OpenBlob, span: ByteSpan, scope: Scope) -> bool:
    """Whether the server may send the whole file itself (ASGI pathsend extension)."""
    if blob.path is None or span.start != 0 or span.length != blob.info.size_bytes:
        return False
    if "http.response.pathsend" not in scope.get("extensions", {}):
        return False
    try:
        return os.stat(blob.path).st_size == span.length  # still the version described
    except OSError:
        return False


async def _send_body(blob: OpenBlob, span: ByteSpan, scope: Scope, send: Send) -> None:
    """Send ``span`` of the blob: zero-copy (``sendfile`` of the open file, any range),
    pathsend (whole file), inline preads (local) or threaded reads."""
    fd = blob.fileno()
    if fd is not None and "http.response.zerocopysend" in scope.get("extensions", {}):
        # The blob (and so the descriptor) stays open while this request holds it.
        message = {"type": "http.response.zerocopysend", "file": fd,
                   "offset": span.start, "count": span.length}  # fmt: skip
        await send(message)
        return
    if _can_pathsend(blob, span, scope):
        await send({"type": "http.response.pathsend", "path": str(blob.path)})
        return
    position, remaining = span.start, span.length
    while remaining > 0:
        size = min(CHUNK_BYTES, remaining)
        if blob.is_local:
            chunk = blob.read(position, size)  # page-cache pread: as nginx does, no thread hop
        else:
            chunk = await anyio.to_thread.run_sync(blob.read, position, size)
        if not chunk:
            raise StorageError("file shorter than its recorded size")
        position += len(chunk)
        remaining -= len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
