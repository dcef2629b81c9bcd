"""Uncommitted blocks of a :class:`~openvod.storage.local.LocalBlobStore`, with Azure's caps.

Layout: ``staging/{container}/{sha256(blob name)}/{sha256(block id)}``. The
folder's mtime is the time of the blob's last Put Block (set by the store's
clock at each block), so blocks expire a setting's time after that, as Azure collects
them a week after the last Put Block: checked when the blob is touched, and
swept over the whole store by :meth:`LocalStaging.sweep`. The number of
blocks per blob is counted (once by listing, then kept) to refuse the
100,001st.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from openvod.errors import StorageError
from openvod.storage.limits import MAX_UNCOMMITTED_BLOCKS, StoreLimits, too_many_uncommitted
from openvod.storage.names import contained_path
from openvod.storage.store import COPY_CHUNK_BYTES, iter_chunks


def hash_name(text: str) -> str:
    """The file name standing for a blob name or block id."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LocalStaging:
    """Where a local store keeps uncommitted blocks, and the rules they live by."""

    def __init__(self, root: Path, limits: StoreLimits) -> None:
        self.root = root
        self.limits = limits
        self._counts: dict[Path, int] = {}
        self._lock = threading.Lock()

    def folder(self, container: str, name: str) -> Path:
        """The folder of blob ``name``'s uncommitted blocks."""
        return contained_path(self.root, [container, hash_name(name)])

    def block_path(self, container: str, name: str, block_id: str) -> Path:
        """The file of one uncommitted block."""
        return contained_path(self.folder(container, name), [hash_name(block_id)])

    def expire(self, folder: Path) -> bool:
        """Drop ``folder``'s blocks if the last one came longer ago than the expiry; True if so."""
        try:
            last_write = folder.stat().st_mtime
        except FileNotFoundError:
            return False
        if not self.limits.expired(last_write):
            return False
        self.drop(folder)
        return True

    def reserve(self, container: str, name: str, block_id: str) -> Path:
        """The path a new block goes to, after expiring stale blocks and checking the cap."""
        folder = self.folder(container, name)
        self.expire(folder)
        path = contained_path(folder, [hash_name(block_id)])
        if not path.exists() and self._count(folder) >= MAX_UNCOMMITTED_BLOCKS:
            raise too_many_uncommitted()
        return path

    def staged(self, folder: Path, new: bool) -> None:
        """Note a Put Block into ``folder``: its time (by the limits' clock: the folder's
        mtime), and one more block if it was ``new``."""
        now = self.limits.clock().timestamp()
        os.utime(folder, (now, now))
        if new:
            with self._lock:
                if folder in self._counts:
                    self._counts[folder] += 1

    def _count(self, folder: Path) -> int:
        with self._lock:
            known = self._counts.get(folder)
        if known is not None:
            return known
        try:
            count = sum(1 for _ in os.scandir(folder))
        except FileNotFoundError:
            count = 0
        with self._lock:
            return self._counts.setdefault(folder, count)

    def drop(self, folder: Path) -> None:
        """Delete a blob's uncommitted blocks."""
        with self._lock:
            self._counts.pop(folder, None)
        shutil.rmtree(folder, ignore_errors=True)

    def forget_container(self, container: str) -> None:
        """Forget the counts of a container whose staging folder was removed."""
        base = contained_path(self.root, [container])
        with self._lock:
            for folder in [f for f in self._counts if f.parent == base]:
                del self._counts[folder]

    def sweep(self) -> int:
        """Expire stale blocks of every blob in the store; returns how many blobs had some."""
        removed = 0
        for container in _subfolders(self.root):
            for folder in _subfolders(container):
                removed += self.expire(folder)
        return removed


def _subfolders(path: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def read_block_sources(sources: list[Path | tuple[BinaryIO, int, int]]) -> Iterator[bytes]:
    """Yield the bytes of staged block files and ranges of the committed blob, in order."""
    for source in sources:
        if isinstance(source, Path):
            with open(source, "rb") as fh:
                yield from iter_chunks(fh)
            continue
        handle, offset, remaining = source
        handle.seek(offset)
        while remaining > 0:
            chunk = handle.read(min(COPY_CHUNK_BYTES, remaining))
            if not chunk:
                raise StorageError("committed blob is shorter than its block list")
            remaining -= len(chunk)
            yield chunk
