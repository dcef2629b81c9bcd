"""An in-memory :class:`~openvod.storage.store.BlobStore` for unit tests."""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar

from openvod.errors import InvalidRequestError, NotFoundError
from openvod.storage.limits import (
    MAX_UNCOMMITTED_BLOCKS,
    StoreLimits,
    check_blob_size,
    check_block_list,
    too_many_uncommitted,
)
from openvod.storage.names import validate_blob_name, validate_container_name
from openvod.storage.store import (
    DEFAULT_CONTENT_TYPE,
    BlobInfo,
    check_md5,
    format_etag,
    iter_chunks,
    validate_block_id,
)

T = TypeVar("T")


@dataclass
class _Blob:
    info: BlobInfo
    data: bytes
    blocks: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class _Container:
    blobs: dict[str, _Blob] = field(default_factory=dict)
    staged: dict[str, dict[str, bytes]] = field(default_factory=dict)
    staged_at: dict[str, float] = field(default_factory=dict)  # last Put Block, epoch seconds


class _BytesWriter(Generic[T]):
    """Chunks kept in memory until ``commit`` hands them to ``finish``."""

    def __init__(self, finish: Callable[[bytes], T], max_bytes: int | None = None) -> None:
        self._finish = finish
        self._parts: list[bytes] = []
        self._size = 0
        self._max_bytes = max_bytes

    def write(self, chunk: bytes | memoryview) -> None:
        self._size += len(chunk)
        if self._max_bytes is not None and self._size > self._max_bytes:
            raise InvalidRequestError("The blob is too large.", code="RequestBodyTooLarge")
        self._parts.append(bytes(chunk))

    def commit(self) -> T:
        data, self._parts = b"".join(self._parts), []
        return self._finish(data)

    def abort(self) -> None:
        self._parts = []


class MemoryBlobStore:
    """Blobs held in dicts, with the same semantics as :class:`LocalBlobStore`.

    ``clock`` lets tests control ``last_modified``; ``limits`` (with its own
    clock) caps block lists and expires uncommitted blocks.
    """

    def __init__(
        self, clock: Callable[[], datetime] | None = None, limits: StoreLimits | None = None
    ) -> None:
        self._containers: dict[str, _Container] = {}
        self._lock = threading.RLock()
        self._etags = itertools.count(0x8DC000000000000)
        self._clock = clock
        self.limits = limits or StoreLimits()

    def _now(self) -> datetime:
        return self._clock() if self._clock is not None else datetime.now(UTC)

    def _container(self, container: str) -> _Container:
        validate_container_name(container)
        found = self._containers.get(container)
        if found is None:
            raise NotFoundError(
                f"The specified container does not exist: {container}", code="ContainerNotFound"
            )
        return found

    def _blob(self, container: str, name: str) -> _Blob:
        validate_blob_name(name)
        found = self._container(container).blobs.get(name)
        if found is None:
            raise NotFoundError(
                f"The specified blob does not exist: {container}/{name}", code="BlobNotFound"
            )
        return found

    def create_container(self, container: str) -> None:
        """Create ``container``; nothing happens if it exists."""
        validate_container_name(container)
        with self._lock:
            self._containers.setdefault(container, _Container())

    def delete_container(self, container: str) -> None:
        """Delete ``container`` and everything in it; idempotent."""
        validate_container_name(container)
        with self._lock:
            self._containers.pop(container, None)

    def container_exists(self, container: str) -> bool:
        """True if ``container`` exists."""
        validate_container_name(container)
        with self._lock:
            return container in self._containers

    def _commit(
        self,
        container: str,
        name: str,
        data: bytes,
        content_type: str | None,
        content_md5: bytes | None,
        blocks: list[tuple[str, int]],
    ) -> BlobInfo:
        digest = hashlib.md5(data, usedforsecurity=False).digest()
        check_md5(content_md5, digest)
        with self._lock:
            box = self._container(container)
            info = BlobInfo(
                name=name,
                size_bytes=len(data),
                etag=format_etag(next(self._etags)),
                last_modified=self._now(),
                content_type=content_type or DEFAULT_CONTENT_TYPE,
                content_md5=digest,
            )
            box.blobs[name] = _Blob(info=info, data=data, blocks=blocks)
            box.staged.pop(name, None)
            box.staged_at.pop(name, None)
            return info

    def put_blob(
        self,
        container: str,
        name: str,
        data: bytes | BinaryIO,
        content_type: str | None = None,
        content_md5: bytes | None = None,
    ) -> BlobInfo:
        """Write a whole blob (see :meth:`BlobStore.put_blob`)."""
        validate_blob_name(name)
        self._container(container)
        payload = b"".join(iter_chunks(data))
        return self._commit(container, name, payload, content_type, content_md5, [])

    def open_writer(
        self,
        container: str,
        name: str,
        content_type: str | None = None,
        content_md5: bytes | None = None,
    ) -> _BytesWriter[BlobInfo]:
        """A writer whose commit makes the blob (see :meth:`BlobStore.open_writer`)."""
        validate_blob_name(name)
        self._container(container)

        def finish(data: bytes) -> BlobInfo:
            return self._commit(container, name, data, content_type, content_md5, [])

        return _BytesWriter(finish, self.limits.max_blob_bytes)

    def open_block_writer(
        self, container: str, name: str, block_id: str, content_md5: bytes | None = None
    ) -> _BytesWriter[None]:
        """A writer whose commit stages the block (see :meth:`BlobStore.open_block_writer`)."""
        validate_blob_name(name)
        validate_block_id(block_id)
        self._reserve(container, name, block_id)

        def finish(data: bytes) -> None:
            check_md5(content_md5, hashlib.md5(data, usedforsecurity=False).digest())
            with self._lock:
                box = self._reserve(container, name, block_id)
                box.staged.setdefault(name, {})[block_id] = data
                box.staged_at[name] = self.limits.clock().timestamp()

        return _BytesWriter(finish)

    def _reserve(self, container: str, name: str, block_id: str) -> _Container:
        with self._lock:
            box = self._container(container)
            self._expire(box, name)
            staged = box.staged.get(name, {})
            if block_id not in staged and len(staged) >= MAX_UNCOMMITTED_BLOCKS:
                raise too_many_uncommitted()
            return box

    def _expire(self, box: _Container, name: str) -> bool:
        at = box.staged_at.get(name)
        if at is None or not self.limits.expired(at):
            return False
        box.staged.pop(name, None)
        box.staged_at.pop(name, None)
        return True

    def sweep_expired_blocks(self) -> int:
        """Delete uncommitted blocks past their expiry; returns how many blobs had some."""
        with self._lock:
            return sum(
                self._expire(box, name)
                for box in self._containers.values()
                for name in list(box.staged)
            )

    def put_file(
        self,
        container: str,
        name: str,
        src: Path,
        content_type: str | None = None,
        move: bool = False,
    ) -> BlobInfo:
        """Copy a local file in; ``move=True`` also deletes ``src`` (MD5 then stays None)."""
        validate_blob_name(name)
        self._container(container)
        info = self._commit(container, name, src.read_bytes(), content_type, None, [])
        if move:
            src.unlink()
            with self._lock:
                blob = self._blob(container, name)
                blob.info = replace(blob.info, content_md5=None)
                info = blob.info
        return info

    def stage_block(self, container: str, name: str, block_id: str, data: bytes) -> None:
        """Keep ``data`` as uncommitted block ``block_id`` of blob ``name``."""
        writer = self.open_block_writer(container, name, block_id)
        writer.write(data)
        writer.commit()

    def commit_block_list(
        self,
        container: str,
        name: str,
        block_ids: list[str],
        content_type: str | None = None,
        content_md5: bytes | None = None,
    ) -> BlobInfo:
        """Assemble the blob from staged or committed blocks (see :meth:`BlobStore`)."""
        validate_blob_name(name)
        check_block_list(block_ids)
        with self._lock:
            box = self._container(container)
            self._expire(box, name)
            staged = box.staged.get(name, {})
            current = box.blobs.get(name)
            committed: dict[str, bytes] = {}
            if current is not None:
                offset = 0
                for block_id, size in current.blocks:
                    committed[block_id] = current.data[offset : offset + size]
                    offset += size
            parts: list[bytes] = []
            for block_id in block_ids:
                part = staged.get(block_id, committed.get(block_id))
                if part is None:
                    raise InvalidRequestError(
                        f"The specified block list is invalid: unknown block {block_id!r}",
                        code="InvalidBlockList",
                    )
                parts.append(part)
            check_blob_size(sum(len(part) for part in parts), self.limits)
            blocks = [(bid, len(part)) for bid, part in zip(block_ids, parts, strict=True)]
            return self._commit(container, name, b"".join(parts), content_type, content_md5, blocks)

    def get_info(self, container: str, name: str) -> BlobInfo:
        """Describe a committed blob."""
        with self._lock:
            return self._blob(container, name).info

    def read_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        """Read up to ``length`` bytes from ``offset``."""
        if offset < 0 or length < 0:
            raise InvalidRequestError(f"bad range offset={offset} length={length}")
        with self._lock:
            return self._blob(container, name).data[offset : offset + length]

    def open_read(self, container: str, name: str) -> BinaryIO:
        """A BytesIO over the blob's current bytes."""
        with self._lock:
            return io.BytesIO(self._blob(container, name).data)

    def list_blobs(self, container: str, prefix: str = "") -> list[BlobInfo]:
        """Committed blobs whose names start with ``prefix``, sorted by name."""
        with self._lock:
            blobs = self._container(container).blobs
            return [blobs[n].info for n in sorted(blobs) if n.startswith(prefix)]

    def delete_blob(self, container: str, name: str) -> None:
        """Delete a blob and its staged blocks."""
        with self._lock:
            self._blob(container, name)
            box = self._container(container)
            del box.blobs[name]
            box.staged.pop(name, None)
            box.staged_at.pop(name, None)

    def local_path(self, container: str, name: str) -> Path | None:
        """Always None: memory has no files."""
        with self._lock:
            self._blob(container, name)
        return None
