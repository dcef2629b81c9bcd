"""A file descriptor an object owns: closed once, by ``close()`` or when the object goes.

Source MP4s, downloaded blobs and memfd-backed cached responses each hold one
open descriptor for ``pread`` and ``sendfile``; this is the one place that
closes them.
"""

from __future__ import annotations

import os


class OwnedDescriptor:
    """Holds ``_fd`` (None when there is none or it was closed)."""

    _fd: int | None = None

    def fileno(self) -> int | None:
        """The open descriptor, for ``pread`` or ``sendfile``; None if there is none."""
        return self._fd

    def close(self) -> None:
        """Close the descriptor (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        self.close()
