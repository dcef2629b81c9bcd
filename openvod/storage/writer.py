"""Writing a blob or a block as its bytes arrive: a temp file that becomes visible on commit.

An upload hands each complete chunk to :meth:`TempFileWriter.write` (a thread
does the disk write; the event loop never waits on it), then calls
:meth:`~TempFileWriter.commit`, which fsyncs the file and gives it to the
store's ``finish`` callback to be moved into place atomically, or
:meth:`~TempFileWriter.abort`, which deletes it. Nothing is visible before
``commit`` returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from openvod.errors import InvalidRequestError

T = TypeVar("T")


class TempFileWriter(Generic[T]):
    """A temp file in ``tmp_dir`` written chunk by chunk; ``finish(path, md5)`` on commit.

    ``max_bytes`` refuses writes beyond it (InvalidRequestError). ``finish``
    takes over the file (moves it away or leaves it to be deleted).
    """

    def __init__(
        self, tmp_dir: Path, finish: Callable[[Path, bytes], T], max_bytes: int | None = None
    ) -> None:
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="w-")
        self._fd: int | None = fd
        self.path = Path(name)
        self._finish = finish
        self._digest = hashlib.md5(usedforsecurity=False)
        self._max_bytes = max_bytes
        self.size_bytes = 0

    def write(self, chunk: bytes | memoryview) -> None:
        """Append ``chunk``."""
        if self._fd is None:
            raise ValueError("the writer is closed")
        self.size_bytes += len(chunk)
        if self._max_bytes is not None and self.size_bytes > self._max_bytes:
            raise InvalidRequestError(
                f"The blob would exceed the {self._max_bytes} bytes allowed.",
                code="RequestBodyTooLarge",
            )
        self._digest.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]

    def commit(self) -> T:
        """Make the written bytes durable and hand them to the store; the writer is then done."""
        if self._fd is None:
            raise ValueError("the writer is closed")
        try:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            return self._finish(self.path, self._digest.digest())
        finally:
            self.abort()

    def abort(self) -> None:
        """Forget everything written (idempotent; cheap enough for the event loop)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)
