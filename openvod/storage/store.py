"""The blob store interface every storage backend implements, and what it returns."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar, runtime_checkable

from openvod.errors import InvalidRequestError

DEFAULT_CONTENT_TYPE = "application/octet-stream"
COPY_CHUNK_BYTES = 1024 * 1024
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class BlobInfo:
    """What a store knows about one committed blob."""

    name: str
    size_bytes: int
    etag: str
    """Strong quoted etag in Azure's style, e.g. ``'"0x8DC1A2B3C4D5E6F"'``."""
    last_modified: datetime
    """When the blob was last written; timezone-aware UTC."""
    content_type: str = DEFAULT_CONTENT_TYPE
    content_md5: bytes | None = None


class BlobWriter(Protocol[T_co]):
    """An upload in progress: chunks in, then ``commit`` (visible at once) or ``abort``.

    Blocking (disk or network): call ``write`` and ``commit`` from a worker
    thread with complete chunks; ``abort`` is cheap and may run anywhere.
    """

    def write(self, chunk: bytes | memoryview) -> None:
        """Append ``chunk``."""
        ...

    def commit(self) -> T_co:
        """Finish the upload and make it visible (a blob's BlobInfo; None for a block)."""
        ...

    def abort(self) -> None:
        """Forget what was written; idempotent."""
        ...


@runtime_checkable
class BlobStore(Protocol):
    """Containers of named blobs, with Azure block-blob semantics.

    Names are checked with :mod:`openvod.storage.names` (InvalidNameError).
    A blob becomes visible only once complete; readers never see a partial
    write. Missing containers or blobs raise NotFoundError with the Azure code
    ``ContainerNotFound`` or ``BlobNotFound``.
    """

    def create_container(self, container: str) -> None:
        """Create ``container``; nothing happens if it exists."""
        ...

    def delete_container(self, container: str) -> None:
        """Delete ``container`` and every blob and staged block in it; idempotent."""
        ...

    def container_exists(self, container: str) -> bool:
        """True if ``container`` exists."""
        ...

    def put_blob(
        self,
        container: str,
        name: str,
        data: bytes | BinaryIO,
        content_type: str | None = None,
        content_md5: bytes | None = None,
    ) -> BlobInfo:
        """Write a whole blob, replacing any existing one and discarding its staged blocks.

        ``content_md5``, if given, must match the data (else InvalidRequestError
        with code ``Md5Mismatch``). The stored MD5 is always computed.
        """
        ...

    def open_writer(
        self,
        container: str,
        name: str,
        content_type: str | None = None,
        content_md5: bytes | None = None,
    ) -> BlobWriter[BlobInfo]:
        """Start writing a whole blob; it replaces any existing one only on ``commit``.

        ``commit`` checks ``content_md5`` (``Md5Mismatch``) and discards the
        blob's staged blocks, like :meth:`put_blob`.
        """
        ...

    def open_block_writer(
        self, container: str, name: str, block_id: str, content_md5: bytes | None = None
    ) -> BlobWriter[None]:
        """Start writing uncommitted block ``block_id``; staged on ``commit``.

        Refuses a new block beyond Azure's 100,000 uncommitted blocks per blob
        (ConflictError ``BlockCountExceedsLimit``); stale blocks expire first.
        """
        ...

    def sweep_expired_blocks(self) -> int:
        """Delete every blob's uncommitted blocks past their expiry; how many blobs had some."""
        ...

    def put_file(
        self,
        container: str,
        name: str,
        src: Path,
        content_type: str | None = None,
        move: bool = False,
    ) -> BlobInfo:
        """Store a local file as a blob; ``move=True`` renames it in when it can.

        A moved file is not re-read, so its ``content_md5`` is None.
        """
        ...

    def stage_block(self, container: str, name: str, block_id: str, data: bytes) -> None:
        """Keep ``data`` as uncommitted block ``block_id`` of blob ``name``."""
        ...

    def commit_block_list(
        self,
        container: str,
        name: str,
        block_ids: list[str],
        content_type: str | None = None,
        content_md5: bytes | None = None,
    ) -> BlobInfo:
        """Make the blob the concatenation of ``block_ids`` and drop all uncommitted blocks.

        Each id is looked up among the staged blocks first, then among the
        blocks of the currently committed blob (Azure's "Latest"). An unknown
        id raises InvalidRequestError with code ``InvalidBlockList``, as does a
        repeated id or a blob past the size cap; more than 50,000 ids raise
        ``BlockListTooLong`` (see :mod:`openvod.storage.limits`).
        """
        ...

    def get_info(self, container: str, name: str) -> BlobInfo:
        """Describe a committed blob."""
        ...

    def read_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        """Read up to ``length`` bytes from ``offset`` (fewer at the end of the blob)."""
        ...

    def open_read(self, container: str, name: str) -> BinaryIO:
        """Open a committed blob for reading; the caller closes it.

        The handle keeps reading the version that was opened even if the blob
        is replaced meanwhile.
        """
        ...

    def list_blobs(self, container: str, prefix: str = "") -> list[BlobInfo]:
        """Every committed blob whose name starts with ``prefix``, sorted by name."""
        ...

    def delete_blob(self, container: str, name: str) -> None:
        """Delete a blob and its staged blocks; NotFoundError if it does not exist."""
        ...

    def local_path(self, container: str, name: str) -> Path | None:
        """A real file holding the blob (for ffmpeg or sendfile), or None if there is none."""
        ...


def format_etag(value: int) -> str:
    """Azure-style strong etag: quoted '0x' and 15 uppercase hex digits."""
    return f'"0x{value & 0xFFFFFFFFFFFFFFF:015X}"'


def iter_chunks(data: bytes | BinaryIO, chunk_bytes: int = COPY_CHUNK_BYTES) -> Iterator[bytes]:
    """Yield ``data`` in chunks, whether it is bytes or a readable binary file."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), chunk_bytes):
            yield bytes(view[start : start + chunk_bytes])
        return
    while True:
        chunk = data.read(chunk_bytes)
        if not chunk:
            return
        yield chunk


def check_md5(expected: bytes | None, actual: bytes) -> None:
    """Raise ``Md5Mismatch`` if a caller-supplied MD5 differs from the computed one."""
    if expected is not None and expected != actual:
        raise InvalidRequestError(
            "The MD5 value specified in the request did not match with the MD5 value "
            "calculated by the server.",
            code="Md5Mismatch",
        )


def validate_block_id(block_id: str) -> str:
    """Return ``block_id`` if a store can keep it (non-empty, at most 1024 characters)."""
    if not isinstance(block_id, str) or not block_id or len(block_id) > 1024:
        raise InvalidRequestError(
            "block id must be a non-empty string of at most 1024 characters",
            code="InvalidQueryParameterValue",
        )
    return block_id


def md5_of(data: bytes) -> bytes:
    """MD5 digest of ``data`` (Azure's Content-MD5; not used for security)."""
    return hashlib.md5(data, usedforsecurity=False).digest()
