"""A blob store that keeps the files of storage-encrypted containers encrypted at rest.

:class:`SealedStore` wraps a real store. ``container_key(container)`` says whether a
container is storage-encrypted (its asset's 32-byte key) or clear (None). For clear
containers every call passes straight through (local files keep their path, so the
origin's zero-copy paths are untouched). For encrypted ones:

- writes (Put Blob, encoder outputs) are encrypted as they stream in, in the format of
  :mod:`openvod.storage.cipher`, under a fresh nonce per file;
- staged blocks are sealed one by one under their own nonces; committing a block list
  assembles them under a hidden staging name, then decrypts them block by block into
  the real blob, re-encrypted under one nonce, and deletes the assembly. Blocks of a
  committed encrypted blob cannot be reused by a later block list;
- reads (``read_range``, ``open_read``) decrypt just the range asked for; sizes are
  the plaintext sizes; ``local_path`` is None, so readers take their copy paths.

:attr:`SealedStore.raw` is the underlying store: what SAS clients read (ciphertext).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from openvod.storage import cipher
from openvod.storage.store import BlobInfo, BlobStore, BlobWriter, check_md5, iter_chunks

T = TypeVar("T")
STAGING_PREFIX = ".openvod-sealing/"
"""Where a committed block list of an encrypted blob is assembled before it is resealed."""
_COPY_BYTES = 1024 * 1024


class SealingWriter(BlobWriter[T]):
    """Encrypts what is written into ``inner``; checks ``content_md5`` of the plaintext.

    With ``sealed_block`` the output is a sealed block (header, ciphertext, length
    trailer) rather than a file.
    """

    def __init__(
        self, inner: BlobWriter[T], key: bytes, content_md5: bytes | None = None,
        *, sealed_block: bool = False,
    ) -> None:  # fmt: skip
        self._inner = inner
        self._md5 = content_md5
        self._digest = hashlib.md5(usedforsecurity=False)
        self._block = sealed_block
        nonce = cipher.new_nonce()
        self._cipher = cipher.keystream_cipher(key, nonce, 0)
        self._size = 0
        inner.write(cipher.make_header(nonce, cipher.BLOCK_MAGIC if sealed_block else cipher.MAGIC))

    def write(self, chunk: bytes | memoryview) -> None:
        """Encrypt and append ``chunk``."""
        self._digest.update(chunk)
        self._size += len(chunk)
        self._inner.write(self._cipher.update(chunk))

    def commit(self) -> T:
        """Check the plaintext MD5 (if one was given) and commit the ciphertext."""
        try:
            check_md5(self._md5, self._digest.digest())
        except BaseException:
            self._inner.abort()
            raise
        if self._block:
            self._inner.write(self._size.to_bytes(cipher.TRAILER_BYTES, "big"))
        return self._inner.commit()

    def abort(self) -> None:
        """Forget everything written."""
        self._inner.abort()


class DecryptingReader(io.RawIOBase):
    """A seekable plaintext view of an encrypted file open in ``raw`` (closed with it)."""

    def __init__(self, raw: BinaryIO, key: bytes) -> None:
        super().__init__()
        self._raw = raw
        self._key = key
        raw.seek(0)
        self._nonce = cipher.parse_header(raw.read(cipher.HEADER_BYTES))
        self._size = raw.seek(0, io.SEEK_END) - cipher.HEADER_BYTES
        self._position = 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move in plaintext offsets."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        """The plaintext position."""
        return self._position

    def readinto(self, buffer: Any) -> int:
        """Read and decrypt into ``buffer``."""
        view = memoryview(buffer).cast("B")
        self._raw.seek(cipher.HEADER_BYTES + self._position)
        data = self._raw.read(min(len(view), max(0, self._size - self._position)))
        plain = cipher.crypt_at(self._key, self._nonce, self._position, data)
        view[: len(plain)] = plain
        self._position += len(plain)
        return len(plain)

    def close(self) -> None:
        """Close the encrypted file too."""
        if not self.closed:
            self._raw.close()
        super().close()


def _plain_info(info: BlobInfo) -> BlobInfo:
    """The plaintext's description: its size; the stored MD5 is the ciphertext's, dropped."""
    return replace(
        info, size_bytes=max(0, info.size_bytes - cipher.HEADER_BYTES), content_md5=None
    )


class SealedStore:
    """A :class:`~openvod.storage.store.BlobStore` encrypting the containers that have keys.

    ``container_key(container)`` gives the container's 32-byte key, or None.
    """

    def __init__(self, raw: BlobStore, container_key: Callable[[str], bytes | None]) -> None:
        self.raw = raw
        self.container_key = container_key

    def __getattr__(self, name: str) -> Any:
        # What the real store offers beyond the protocol (``root``, ``limits``...).
        return getattr(self.raw, name)

    # ---- containers ----------------------------------------------------------

    def create_container(self, container: str) -> None:
        """Create ``container``."""
        self.raw.create_container(container)

    def delete_container(self, container: str) -> None:
        """Delete ``container`` and everything in it."""
        self.raw.delete_container(container)

    def container_exists(self, container: str) -> bool:
        """True if ``container`` exists."""
        return self.raw.container_exists(container)

    # ---- writes --------------------------------------------------------------

    def put_blob(
        self, container: str, name: str, data: bytes | BinaryIO,
        content_type: str | None = None, content_md5: bytes | None = None,
    ) -> BlobInfo:  # fmt: skip
        """Write a whole blob (encrypted for an encrypted container)."""
        writer = self.open_writer(container, name, content_type, content_md5)
        try:
            for chunk in iter_chunks(data):
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.commit()

    def open_writer(
        self, container: str, name: str,
        content_type: str | None = None, content_md5: bytes | None = None,
    ) -> BlobWriter[BlobInfo]:  # fmt: skip
        """A writer whose commit makes the blob."""
        key = self.container_key(container)
        if key is None:
            return self.raw.open_writer(container, name, content_type, content_md5)
        inner = self.raw.open_writer(container, name, content_type, None)
        return _InfoWriter(SealingWriter(inner, key, content_md5))

    def open_block_writer(
        self, container: str, name: str, block_id: str, content_md5: bytes | None = None
    ) -> BlobWriter[None]:
        """A writer whose commit stages the block (sealed for an encrypted container)."""
        key = self.container_key(container)
        if key is None:
            return self.raw.open_block_writer(container, name, block_id, content_md5)
        inner = self.raw.open_block_writer(container, STAGING_PREFIX + name, block_id, None)
        return SealingWriter(inner, key, content_md5, sealed_block=True)

    def stage_block(self, container: str, name: str, block_id: str, data: bytes) -> None:
        """Keep ``data`` as uncommitted block ``block_id`` of blob ``name``."""
        writer = self.open_block_writer(container, name, block_id)
        writer.write(data)
        writer.commit()

    def sweep_expired_blocks(self) -> int:
        """Delete uncommitted blocks past their expiry."""
        return self.raw.sweep_expired_blocks()

    def put_file(
        self, container: str, name: str, src: Path,
        content_type: str | None = None, move: bool = False,
    ) -> BlobInfo:  # fmt: skip
        """Copy a local file in (encrypting it for an encrypted container)."""
        key = self.container_key(container)
        if key is None:
            return self.raw.put_file(container, name, src, content_type, move)
        with src.open("rb") as fh:
            info = self.put_blob(container, name, fh, content_type)
        if move:
            src.unlink()
        return info

    def commit_block_list(
        self, container: str, name: str, block_ids: list[str],
        content_type: str | None = None, content_md5: bytes | None = None,
    ) -> BlobInfo:  # fmt: skip
        """Assemble the blob from its staged blocks (resealed under one nonce if encrypted)."""
        key = self.container_key(container)
        if key is None:
            return self.raw.commit_block_list(
                container, name, block_ids, content_type, content_md5
            )
        staging = STAGING_PREFIX + name
        assembled = self.raw.commit_block_list(container, staging, block_ids)
        try:
            with self.raw.open_read(container, staging) as fh:
                chunks = _unseal_blocks(fh, assembled.size_bytes, key)
                writer = self.open_writer(container, name, content_type, content_md5)
                try:
                    for chunk in chunks:
                        writer.write(chunk)
                except BaseException:
                    writer.abort()
                    raise
                return writer.commit()
        finally:
            self.raw.delete_blob(container, staging)

    def delete_blob(self, container: str, name: str) -> None:
        """Delete a blob."""
        self.raw.delete_blob(container, name)

    # ---- reads ---------------------------------------------------------------

    def get_info(self, container: str, name: str) -> BlobInfo:
        """Describe a committed blob (plaintext size)."""
        info = self.raw.get_info(container, name)
        return info if self.container_key(container) is None else _plain_info(info)

    def read_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        """Up to ``length`` plaintext bytes from ``offset``, decrypting only those."""
        key = self.container_key(container)
        if key is None:
            return self.raw.read_range(container, name, offset, length)
        with self.raw.open_read(container, name) as fh:
            nonce = cipher.parse_header(fh.read(cipher.HEADER_BYTES))
            fh.seek(cipher.HEADER_BYTES + offset)
            return cipher.crypt_at(key, nonce, offset, fh.read(length))

    def open_read(self, container: str, name: str) -> BinaryIO:
        """The blob's plaintext, readable and seekable."""
        key = self.container_key(container)
        handle = self.raw.open_read(container, name)
        if key is None:
            return handle
        try:
            reader = DecryptingReader(handle, key)
        except BaseException:
            handle.close()
            raise
        return cast(BinaryIO, reader)  # reads return all that is asked, up to the end

    def list_blobs(self, container: str, prefix: str = "") -> list[BlobInfo]:
        """Committed blobs (plaintext sizes), without block lists being assembled."""
        infos = self.raw.list_blobs(container, prefix)
        if self.container_key(container) is None:
            return infos
        return [_plain_info(i) for i in infos if not i.name.startswith(STAGING_PREFIX)]

    def open_plain(self, container: str, name: str) -> PlainFile | None:
        """An encrypted blob's local file for plaintext range reads; None when the blob is
        clear or the underlying store has no local files."""
        key = self.container_key(container)
        if key is None:
            return None
        path = self.raw.local_path(container, name)
        return PlainFile(path, key) if path is not None else None

    def local_path(self, container: str, name: str) -> Path | None:
        """The file of a clear blob; None for an encrypted one (its file is ciphertext)."""
        if self.container_key(container) is None:
            return self.raw.local_path(container, name)
        self.raw.get_info(container, name)  # NotFoundError as the protocol says
        return None


class PlainFile:
    """An encrypted local file open for positional plaintext reads (thread-safe: ``pread``).

    The header is read once; each :meth:`read` is one ``pread`` and a decryption.
    """

    def __init__(self, path: Path, key: bytes) -> None:
        self._fd: int | None = os.open(path, os.O_RDONLY)
        try:
            self.nonce = cipher.parse_header(os.pread(self._fd, cipher.HEADER_BYTES, 0))
            self.size_bytes = os.fstat(self._fd).st_size - cipher.HEADER_BYTES
        except BaseException:
            self.close()
            raise
        self._key = key

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` plaintext bytes at ``offset``."""
        if self._fd is None:
            raise ValueError("the file is closed")
        data = os.pread(self._fd, size, cipher.HEADER_BYTES + offset)
        return cipher.crypt_at(self._key, self.nonce, offset, data)

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.close()


class _InfoWriter(BlobWriter[BlobInfo]):
    """A sealing blob writer whose commit reports the plaintext's description."""

    def __init__(self, inner: SealingWriter[BlobInfo]) -> None:
        self._inner = inner

    def write(self, chunk: bytes | memoryview) -> None:
        """Encrypt and append ``chunk``."""
        self._inner.write(chunk)

    def commit(self) -> BlobInfo:
        """Commit; the plaintext size."""
        return _plain_info(self._inner.commit())

    def abort(self) -> None:
        """Forget everything written."""
        self._inner.abort()


def _unseal_blocks(fh: BinaryIO, total_bytes: int, key: bytes) -> Iterable[bytes]:
    """The plaintext of a concatenation of sealed blocks, chunk by chunk."""

    def read(offset: int, size: int) -> bytes:
        fh.seek(offset)
        return fh.read(size)

    for block in cipher.block_bounds(total_bytes, read):
        done = 0
        while done < block.size_bytes:
            size = min(_COPY_BYTES, block.size_bytes - done)
            data = read(block.data_start + done, size)
            if len(data) != size:
                raise cipher.StorageError("a sealed block is cut short")
            yield cipher.crypt_at(key, block.nonce, done, data)
            done += size
