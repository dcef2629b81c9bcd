"""A :class:`~openvod.storage.store.BlobStore` on the local filesystem.

Layout under ``root`` (only ``containers/`` holds blobs)::

    containers/{container}/{blob/name/with/folders}   the bytes, a plain file
    meta/{container}/{hh}/{sha256(name)}.json         content type, MD5, block list
    staging/{container}/{sha256(name)}/{sha256(id)}   uncommitted blocks
    tmp/                                              files being written

Every write goes to ``tmp/``, is fsynced, then ``os.replace``d into place, so
a blob is visible only once complete. The sidecar records the identity (inode,
mtime, size) of the data file it describes; a reader that catches the two
mid-swap retries, so data and properties never mismatch. The etag is derived
from that identity too. Every path is built by
:func:`~openvod.storage.names.contained_path`, which refuses symlinks and
anything outside the store.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from openvod.errors import ConflictError, InvalidRequestError, NotFoundError, StorageError
from openvod.storage.limits import StoreLimits, check_blob_size, check_block_list
from openvod.storage.names import (
    blob_segments,
    contained_path,
    is_valid_blob_name,
    validate_container_name,
)
from openvod.storage.staging import LocalStaging, hash_name, read_block_sources
from openvod.storage.store import (
    DEFAULT_CONTENT_TYPE,
    BlobInfo,
    check_md5,
    format_etag,
    iter_chunks,
    validate_block_id,
)
from openvod.storage.writer import TempFileWriter

_LOCK_STRIPES = 64
_META_RETRIES = 20


def _blob_not_found(container: str, name: str) -> NotFoundError:
    return NotFoundError(
        f"The specified blob does not exist: {container}/{name}", code="BlobNotFound"
    )


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs as plain files under ``root/containers``; safe for concurrent block uploads.

    ``limits`` caps block lists and blob sizes and decides when uncommitted
    blocks expire (Azure's rules by default, see :mod:`openvod.storage.limits`).
    """

    def __init__(self, root: Path, limits: StoreLimits | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self._containers = self.root / "containers"
        self._meta = self.root / "meta"
        self._staging = self.root / "staging"
        self._tmp = self.root / "tmp"
        for folder in (self._containers, self._meta, self._staging, self._tmp):
            folder.mkdir(exist_ok=True)
            if folder.is_symlink() or not folder.is_dir():
                raise StorageError(f"{folder} must be a real folder")
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]
        self.limits = limits or StoreLimits()
        self.staging = LocalStaging(self._staging, self.limits)

    # ---- paths -------------------------------------------------------------

    def _container_dir(self, container: str) -> Path:
        return contained_path(self._containers, [validate_container_name(container)])

    def _existing_container_dir(self, container: str) -> Path:
        path = self._container_dir(container)
        if not path.is_dir():
            raise NotFoundError(
                f"The specified container does not exist: {container}", code="ContainerNotFound"
            )
        return path

    def _blob_path(self, container: str, name: str) -> Path:
        segments = blob_segments(name)
        return contained_path(self._existing_container_dir(container), segments)

    def _meta_path(self, container: str, name: str) -> Path:
        digest = hash_name(name)
        return contained_path(self._meta, [container, digest[:2], digest + ".json"])

    def _staging_path(self, container: str, name: str) -> Path:
        return self.staging.folder(container, name)

    def _lock(self, container: str, name: str) -> threading.Lock:
        return self._locks[int(hash_name(f"{container}/{name}")[:8], 16) % _LOCK_STRIPES]

    # ---- low-level writes --------------------------------------------------

    def _write_temp(self, chunks: Iterable[bytes]) -> tuple[Path, bytes]:
        """Write ``chunks`` to a fsynced temp file; return its path and MD5."""
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="w-")
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise
        return Path(name), digest.digest()

    @staticmethod
    def _make_parent(dest: Path) -> None:
        """Create ``dest``'s folders; a blob where a folder must go is a ConflictError."""
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except (NotADirectoryError, FileExistsError) as exc:
            raise ConflictError(
                f"{dest.name!r} would sit under a blob of the same name as its folder"
            ) from exc
        if dest.parent.resolve() != dest.parent:
            raise StorageError(f"{dest.parent} is reached through a symlink")

    def _replace_into(self, src: Path, dest: Path) -> None:
        """``os.replace`` after creating parents; retried if a parent is pruned meanwhile."""
        for attempt in range(3):
            self._make_parent(dest)
            try:
                os.replace(src, dest)
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise
            except (NotADirectoryError, IsADirectoryError) as exc:
                raise ConflictError(
                    f"{dest.name!r} clashes with a blob or virtual folder of the same name"
                ) from exc

    def _install(
        self,
        container: str,
        name: str,
        data_file: Path,
        content_type: str | None,
        content_md5: bytes | None,
        blocks: list[tuple[str, int]],
    ) -> BlobInfo:
        """Swap a complete file in as blob ``name`` together with its sidecar."""
        with self._lock(container, name):
            final = self._blob_path(container, name)
            if final.is_dir():
                raise ConflictError(f"{name!r} is a virtual folder holding other blobs")
            self._make_parent(final)  # fail on a file/folder clash before the sidecar moves
            st = os.stat(data_file)
            meta = {
                "name": name,
                "content_type": content_type or DEFAULT_CONTENT_TYPE,
                "content_md5": base64.b64encode(content_md5).decode() if content_md5 else None,
                "blocks": [[block_id, size] for block_id, size in blocks],
                "identity": _identity(st),
            }
            meta_tmp, _ = self._write_temp([json.dumps(meta).encode()])
            try:
                # Sidecar first: a reader seeing old data with the new sidecar
                # notices the identity mismatch and retries.
                self._replace_into(meta_tmp, self._meta_path(container, name))
            except BaseException:
                meta_tmp.unlink(missing_ok=True)
                raise
            self._replace_into(data_file, final)
            _fsync_dir(final.parent)
            self.staging.drop(self._staging_path(container, name))
            return self._info_from(name, st, meta)

    # ---- reads of sidecars -------------------------------------------------

    def _read_meta(self, container: str, name: str) -> dict[str, Any] | None:
        try:
            with open(self._meta_path(container, name), "rb") as fh:
                meta = json.load(fh)
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        return meta if isinstance(meta, dict) and meta.get("name") == name else None

    def _stat_blob(self, path: Path, container: str, name: str) -> os.stat_result:
        try:
            st = os.stat(path, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            raise _blob_not_found(container, name) from None
        if not stat.S_ISREG(st.st_mode):
            raise _blob_not_found(container, name)
        return st

    def _consistent(
        self, path: Path, container: str, name: str
    ) -> tuple[os.stat_result, dict[str, Any] | None]:
        """Stat the data file and read the sidecar that describes that very file."""
        for _ in range(_META_RETRIES):
            st = self._stat_blob(path, container, name)
            meta = self._read_meta(container, name)
            if meta is None:
                break  # a file without a sidecar (put there by hand): default properties
            if meta.get("identity") == _identity(st):
                return st, meta
            time.sleep(0.002)  # caught between the sidecar swap and the data swap
        return st, None

    @staticmethod
    def _info_from(name: str, st: os.stat_result, meta: dict[str, Any] | None) -> BlobInfo:
        md5_text = meta.get("content_md5") if meta else None
        identity = hashlib.sha256(repr(_identity(st)).encode()).digest()
        return BlobInfo(
            name=name,
            size_bytes=st.st_size,
            etag=format_etag(int.from_bytes(identity[:8], "big")),
            last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC),
            content_type=(meta.get("content_type") if meta else None) or DEFAULT_CONTENT_TYPE,
            content_md5=base64.b64decode(md5_text) if md5_text else None,
        )

    # ---- containers --------------------------------------------------------

    def create_container(self, container: str) -> None:
        """Create ``container``; nothing happens if it exists."""
        self._container_dir(container).mkdir(exist_ok=True)

    def delete_container(self, container: str) -> None:
        """Delete ``container`` with its blobs, sidecars and staged blocks; idempotent."""
        validate_container_name(container)
        for base in (self._containers, self._meta, self._staging):
            path = contained_path(base, [container])
            trash = self._tmp / f"trash-{uuid.uuid4().hex}"
            try:
                os.replace(path, trash)  # vanishes at once, then is removed at leisure
            except FileNotFoundError:
                continue
            shutil.rmtree(trash, ignore_errors=True)
        self.staging.forget_container(container)

    def container_exists(self, container: str) -> bool:
        """True if ``container`` exists."""
        return self._container_dir(container).is_dir()

    # ---- writes ------------------------------------------------------------

    def put_blob(
        self,
        container: str,
        name: str,
        data: bytes | BinaryIO,
        content_type: str | None = None,
        content_md5: bytes | None = None,
    ) -> BlobInfo:
        """Write a whole blob (see :meth:`BlobStore.put_blob`)."""
        writer = self.open_writer(container, name, content_type, content_md5)
        try:
            for chunk in iter_chunks(data):
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.commit()

    def open_writer(
        self,
        container: str,
        name: str,
        content_type: str | None = None,
        content_md5: bytes | None = None,
    ) -> TempFileWriter[BlobInfo]:
        """A writer whose commit makes the blob (see :meth:`BlobStore.open_writer`)."""
        self._blob_path(container, name)

        def finish(tmp: Path, digest: bytes) -> BlobInfo:
            check_md5(content_md5, digest)
            return self._install(container, name, tmp, content_type, digest, [])

        return TempFileWriter(self._tmp, finish, self.limits.max_blob_bytes)

    def put_file(
        self,
        container: str,
        name: str,
        src: Path,
        content_type: str | None = None,
        move: bool = False,
    ) -> BlobInfo:
        """Store a local file; ``move=True`` renames it in when on the same filesystem."""
        self._blob_path(container, name)
        if move and os.stat(src).st_dev == os.stat(self._tmp).st_dev:
            os.utime(src)  # last_modified is when it was stored, not encoded
            with open(src, "rb") as fh:
                os.fsync(fh.fileno())
            return self._install(container, name, src, content_type, None, [])
        with open(src, "rb") as fh:
            tmp, digest = self._write_temp(iter_chunks(fh))
        try:
            info = self._install(container, name, tmp, content_type, digest, [])
        finally:
            tmp.unlink(missing_ok=True)
        if move:
            src.unlink()
        return info

    def stage_block(self, container: str, name: str, block_id: str, data: bytes) -> None:
        """Keep ``data`` as uncommitted block ``block_id`` of blob ``name``."""
        writer = self.open_block_writer(container, name, block_id)
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def open_block_writer(
        self, container: str, name: str, block_id: str, content_md5: bytes | None = None
    ) -> TempFileWriter[None]:
        """A writer whose commit stages the block (see :meth:`BlobStore.open_block_writer`)."""
        self._blob_path(container, name)
        validate_block_id(block_id)
        self.staging.reserve(container, name, block_id)

        def finish(tmp: Path, digest: bytes) -> None:
            check_md5(content_md5, digest)
            dest = self.staging.reserve(container, name, block_id)
            new = not dest.exists()
            self._replace_into(tmp, dest)
            self.staging.staged(dest.parent, new)

        return TempFileWriter(self._tmp, finish)

    def sweep_expired_blocks(self) -> int:
        """Delete uncommitted blocks past their expiry; returns how many blobs had some."""
        return self.staging.sweep()

    def commit_block_list(
        self,
        container: str,
        name: str,
        block_ids: list[str],
        content_type: str | None = None,
        content_md5: bytes | None = None,
    ) -> BlobInfo:
        """Assemble the blob from staged or committed blocks (see :meth:`BlobStore`)."""
        check_block_list(block_ids)
        path = self._blob_path(container, name)
        staging = self._staging_path(container, name)
        self.staging.expire(staging)
        with contextlib.ExitStack() as stack:
            committed: dict[str, tuple[BinaryIO, int, int]] = {}
            current = self._open_current(path, container, name)
            if current is not None:
                handle, meta = current
                stack.callback(handle.close)
                offset = 0
                for block_id, size in meta.get("blocks", []):
                    committed[block_id] = (handle, offset, size)
                    offset += size
            sources = [self._block_source(staging, block_id, committed) for block_id in block_ids]
            sizes = [src.stat().st_size if isinstance(src, Path) else src[2] for src in sources]
            check_blob_size(sum(sizes), self.limits)
            tmp, digest = self._write_temp(read_block_sources(sources))
        try:
            check_md5(content_md5, digest)
            blocks = list(zip(block_ids, sizes, strict=True))
            return self._install(container, name, tmp, content_type, digest, blocks)
        finally:
            tmp.unlink(missing_ok=True)

    def _open_current(
        self, path: Path, container: str, name: str
    ) -> tuple[BinaryIO, dict[str, Any]] | None:
        """Open the committed blob with its sidecar, if it has reusable blocks."""
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the caller's ExitStack
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        meta = self._read_meta(container, name)
        if meta is None or meta.get("identity") != _identity(os.fstat(handle.fileno())):
            handle.close()
            return None
        return handle, meta

    @staticmethod
    def _block_source(
        staging: Path, block_id: str, committed: dict[str, tuple[BinaryIO, int, int]]
    ) -> Path | tuple[BinaryIO, int, int]:
        staged = contained_path(staging, [hash_name(block_id)])
        if staged.is_file():
            return staged
        if block_id in committed:
            return committed[block_id]
        raise InvalidRequestError(
            f"The specified block list is invalid: unknown block {block_id!r}",
            code="InvalidBlockList",
        )

    # ---- reads -------------------------------------------------------------

    def get_info(self, container: str, name: str) -> BlobInfo:
        """Describe a committed blob."""
        path = self._blob_path(container, name)
        st, meta = self._consistent(path, container, name)
        return self._info_from(name, st, meta)

    def read_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        """Read up to ``length`` bytes from ``offset``."""
        if offset < 0 or length < 0:
            raise InvalidRequestError(f"bad range offset={offset} length={length}")
        with self.open_read(container, name) as fh:
            fh.seek(offset)
            return fh.read(length)

    def open_read(self, container: str, name: str) -> BinaryIO:
        """Open the blob's file; the handle keeps the opened version if it is replaced."""
        path = self._blob_path(container, name)
        self._stat_blob(path, container, name)
        try:
            return open(path, "rb")  # noqa: SIM115 - the caller closes it
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise _blob_not_found(container, name) from None

    def list_blobs(self, container: str, prefix: str = "") -> list[BlobInfo]:
        """Committed blobs whose names start with ``prefix``, sorted by name."""
        base = self._existing_container_dir(container)
        start, start_segments = base, []
        folder = prefix.rpartition("/")[0]
        if folder and is_valid_blob_name(folder):
            start_segments = folder.split("/")
            try:
                start = contained_path(base, start_segments)
            except StorageError:
                return []
        infos = []
        for name in _walk(start, start_segments):
            if not name.startswith(prefix):
                continue
            try:
                infos.append(self.get_info(container, name))
            except NotFoundError:
                continue  # deleted while listing
        return sorted(infos, key=lambda info: info.name)

    def delete_blob(self, container: str, name: str) -> None:
        """Delete a blob, its sidecar and staged blocks; prune emptied virtual folders."""
        with self._lock(container, name):
            path = self._blob_path(container, name)
            self._stat_blob(path, container, name)
            try:
                path.unlink()
            except FileNotFoundError:
                raise _blob_not_found(container, name) from None
            self._meta_path(container, name).unlink(missing_ok=True)
            self.staging.drop(self._staging_path(container, name))
            base = self._existing_container_dir(container)
            parent = path.parent
            while parent != base:
                try:
                    parent.rmdir()
                except OSError:
                    break  # not empty: other blobs live here
                parent = parent.parent

    def local_path(self, container: str, name: str) -> Path | None:
        """The blob's own file (read-only by convention)."""
        path = self._blob_path(container, name)
        self._stat_blob(path, container, name)
        return path


def _walk(folder: Path, segments: list[str]) -> Iterator[str]:
    """Names of the regular files below ``folder``, never following symlinks."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        parts = [*segments, entry.name]
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), parts)
        elif entry.is_file(follow_symlinks=False):
            name = "/".join(parts)
            if is_valid_blob_name(name):
                yield name
