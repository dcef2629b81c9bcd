"""The MP4 files an asset streams from, open for positional reads.

A :class:`SourceFile` keeps one descriptor per local file (a segment costs a
couple of ``os.pread`` calls and no ``open``); :func:`read_ranges` reads the
byte ranges of a segment with as few reads as sensible.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from openvod.errors import MediaError
from openvod.origin.descriptor import OwnedDescriptor
from openvod.storage.sealed import SealedStore
from openvod.storage.store import BlobStore

# One read covers a segment's ranges when the span is at most twice the data plus this...
GAP_ALLOWANCE_BYTES = 64 * 1024
# ...and at most this long (bounds the memory of one request).
MAX_SPAN_BYTES = 32 * 1024 * 1024


class SourceFile(OwnedDescriptor):
    """One MP4 of an asset, open for positional reads.

    Local files are read with ``os.pread`` on a descriptor opened once;
    other stores go through ``read_range`` (a network call: never on the
    event loop, see :attr:`is_local`).
    """

    def __init__(self, store: BlobStore, container: str, name: str) -> None:
        self.name = name
        self._store = store
        self._container = container
        path = store.local_path(container, name)
        self._fd = os.open(path, os.O_RDONLY) if path is not None else None
        # A storage-encrypted file: decrypted range by range (never zero-copy).
        self._plain = (store.open_plain(container, name)
                       if path is None and isinstance(store, SealedStore) else None)  # fmt: skip

    def close(self) -> None:
        """Close the descriptor (and a decrypting reader's); idempotent."""
        super().close()
        plain, self._plain = getattr(self, "_plain", None), None
        if plain is not None:
            plain.close()

    @property
    def is_local(self) -> bool:
        """True when reads are quick page-cache preads that may run on the event loop."""
        return self._fd is not None

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (MediaError if the file is shorter)."""
        if self._fd is not None:
            data = os.pread(self._fd, size, offset)
        elif self._plain is not None:
            data = self._plain.read(offset, size)
        else:
            data = self._store.read_range(self._container, self.name, offset, size)
        if len(data) != size:
            raise MediaError(f"{self.name!r} is shorter than its index says")
        return data


def read_ranges(source: SourceFile, reads: Sequence[tuple[int, int]]) -> list[bytes | memoryview]:
    """The bytes of ``reads`` (ascending ``(offset, size)``), as few preads as sensible.

    In an interleaved MP4 one track's samples of a segment are many small
    ranges separated by the other track's samples. When the gaps are small
    next to the data, one read of the whole span plus slices beats a read
    per range; otherwise each range is read on its own.
    """
    if len(reads) == 1:
        return [source.read(*reads[0])]
    start = reads[0][0]
    span = reads[-1][0] + reads[-1][1] - start
    wanted = sum(size for _, size in reads)
    ascending = all(a[0] + a[1] <= b[0] for a, b in zip(reads, reads[1:], strict=False))
    if not ascending or span > MAX_SPAN_BYTES or span > 2 * wanted + GAP_ALLOWANCE_BYTES:
        return [source.read(offset, size) for offset, size in reads]
    buffer = memoryview(source.read(start, span))
    return [buffer[offset - start : offset - start + size] for offset, size in reads]
