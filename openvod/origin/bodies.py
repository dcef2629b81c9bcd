"""Response bodies the origin sends: in memory, in a memfd, or byte ranges of a source file.

A segment's body is one of:

- :class:`BytesBody`: bytes in memory (manifests, small segments, anything
  built when the server cannot send files);
- :class:`MemfdBody`: a built segment kept by the response cache in an
  anonymous in-memory file (``memfd_create``), so the server can ``sendfile``
  it like a file from the page cache: no copy through Python per request, and
  its bytes live in shared memory outside the Python heap;
- :class:`RangedBody`: a box-header prefix built in memory followed by byte
  ranges of the source MP4 (an fMP4 fragment's ``mdat`` is the samples as
  stored), sent with ``sendfile`` straight from the source's page cache.

Each sends any byte range of itself (for Range requests) through ASGI: with
the ``http.response.zerocopysend`` extension when the server has it, else as
plain body messages read with ``pread``.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from starlette.types import Send

from openvod.origin.descriptor import OwnedDescriptor
from openvod.origin.sources import SourceFile, read_ranges

ZERO_COPY = "http.response.zerocopysend"
# A ranged body goes out by sendfile when its samples are at most this many runs (the
# single-track MP4s the encoder writes: one). In an interleaved MP4 a segment is dozens of
# runs, one per chunk: one read of their span and a copy beat a system call per run.
MAX_ZERO_COPY_RUNS = 4
# Below this a body stays bytes: sendfile saves little and each memfd is a descriptor.
MEMFD_MIN_BYTES = 64 * 1024
_ENTRY_OVERHEAD_BYTES = 256

T = TypeVar("T")


async def in_thread(func: Callable[..., T], *args: object) -> T:
    """Run blocking file reads (and what is built from them) in the loop's thread pool.

    The loop's own executor, not anyio's shared limiter: request bodies waiting in
    threads elsewhere in the process cannot hold the origin's reads up.
    """
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


class ResponseBody(Protocol):
    """A body of known size that can send any range of itself."""

    @property
    def size(self) -> int: ...

    @property
    def cost_bytes(self) -> int:
        """What keeping it costs a cache's byte budget."""
        ...

    async def send(self, send: Send, start: int, length: int, zero_copy: bool) -> None:
        """Send bytes ``[start, start + length)`` as the rest of the response body."""
        ...

    def close(self) -> None:
        """Release what it holds (descriptors); called when a cache drops it."""
        ...


async def _send_bytes(send: Send, data: bytes | memoryview, more: bool = False) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


@dataclass(frozen=True, eq=False)
class BytesBody:
    """Bytes in memory (``bytes``, or a read-only view of a built segment's buffer)."""

    data: bytes | memoryview

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def cost_bytes(self) -> int:
        return len(self.data) + _ENTRY_OVERHEAD_BYTES

    async def send(self, send: Send, start: int, length: int, zero_copy: bool) -> None:
        whole = start == 0 and length == len(self.data)
        data = self.data if whole else self.data[start : start + length]
        if not zero_copy and isinstance(data, memoryview):
            data = bytes(data)  # ASGI says bytes; only openvod's own server takes views
        await _send_bytes(send, data)

    def close(self) -> None:
        return None


class MemfdBody(OwnedDescriptor):
    """Bytes copied once into an anonymous in-memory file, sent with ``sendfile``."""

    def __init__(self, data: bytes | memoryview) -> None:
        fd = os.memfd_create("openvod-response", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._size = len(data)

    @property
    def size(self) -> int:
        return self._size

    @property
    def cost_bytes(self) -> int:
        return self._size + _ENTRY_OVERHEAD_BYTES

    async def send(self, send: Send, start: int, length: int, zero_copy: bool) -> None:
        fd = self._fd
        if fd is None:
            raise RuntimeError("the cached response was released")
        if zero_copy:
            await send({"type": ZERO_COPY, "file": fd, "offset": start, "count": length})
        else:
            await _send_bytes(send, os.pread(fd, length, start))



def stored_body(data: bytes | memoryview) -> ResponseBody:
    """How the response cache keeps ``data``: a memfd when it is large and memfds exist."""
    if len(data) >= MEMFD_MIN_BYTES and hasattr(os, "memfd_create"):
        try:
            return MemfdBody(data)
        except OSError:  # out of descriptors or memory: keep the bytes instead
            pass
    return BytesBody(data)


@dataclass(frozen=True, eq=False)
class RangedBody:
    """``prefix`` then ranges ``reads`` ((offset, size) pairs) of a local source file."""

    prefix: bytes
    source: SourceFile
    reads: tuple[tuple[int, int], ...]
    size: int

    @classmethod
    def of(cls, prefix: bytes, source: SourceFile, reads: Sequence[tuple[int, int]]) -> RangedBody:
        """A body of a prefix and the given ranges of ``source``."""
        pairs = tuple((int(offset), int(size)) for offset, size in reads)
        return cls(prefix, source, pairs, len(prefix) + sum(size for _, size in pairs))

    @property
    def cost_bytes(self) -> int:
        return len(self.prefix) + 16 * len(self.reads) + _ENTRY_OVERHEAD_BYTES

    @property
    def few_runs(self) -> bool:
        """Whether sending it from the file takes only a few ``sendfile`` calls."""
        return len(self.reads) <= MAX_ZERO_COPY_RUNS

    def materialise(self) -> bytes:
        """All the bytes, read now (interleaved runs with one read of their span)."""
        return b"".join([self.prefix, *read_ranges(self.source, self.reads)])

    async def send(self, send: Send, start: int, length: int, zero_copy: bool) -> None:
        fd = self.source.fileno() if zero_copy and self.few_runs else None
        if fd is None:
            # Local runs are page-cache preads, read on the loop like a TS segment's (a
            # thread hop costs more than they do); other sources wait in a thread.
            data = (self.materialise() if self.source.is_local
                    else await in_thread(self.materialise))  # fmt: skip
            if start == 0 and length == len(data):
                await _send_bytes(send, data)
            else:
                await _send_bytes(send, data[start : start + length])
            return
        whole = start == 0 and length == self.size
        pieces = self._whole_pieces if whole else self._pieces(start, length)
        last = len(pieces) - 1
        for index, (offset, skip, size) in enumerate(pieces):
            more = index < last
            if offset < 0:
                await _send_bytes(send, self.prefix[skip : skip + size], more)
            else:
                message = {"type": ZERO_COPY, "file": fd, "offset": offset + skip,
                           "count": size, "more_body": more}  # fmt: skip
                await send(message)
        if not pieces:
            await _send_bytes(send, b"")

    @functools.cached_property
    def _whole_pieces(self) -> list[tuple[int, int, int]]:
        return self._pieces(0, self.size)  # the same for every whole-body request

    def _pieces(self, start: int, length: int) -> list[tuple[int, int, int]]:
        """(file offset, or -1 for the prefix; skip into it; size) of bytes [start, +length)."""
        pieces: list[tuple[int, int, int]] = []
        position = 0
        end = start + length
        for offset, size in ((-1, len(self.prefix)), *self.reads):
            lo, hi = max(start, position), min(end, position + size)
            if lo < hi:
                pieces.append((offset, lo - position, hi - lo))
            position += size
            if position >= end:
                break
        return pieces

    def close(self) -> None:
        return None


@dataclass(frozen=True, eq=False)
class CachedResponse:
    """A finished response body with the headers that depend on it."""

    body: ResponseBody
    content_type: bytes
    etag: bytes
    # cache-control value -> the headers of a 200 with the whole body (built once)
    whole_headers: dict[bytes, list[tuple[bytes, bytes]]] = field(
        default_factory=dict, repr=False
    )

    @property
    def size_bytes(self) -> int:
        """What the entry costs against a cache's byte budget."""
        return self.body.cost_bytes
