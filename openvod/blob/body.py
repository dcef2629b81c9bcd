"""Reading request bodies without holding them in memory."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import anyio.from_thread

from openvod.blob.errors import BlobServiceError

Receive = Callable[[], Any]


class ClientGone(Exception):
    """The client disconnected before sending the whole body."""


def _too_large(limit_bytes: int) -> BlobServiceError:
    return BlobServiceError(
        413,
        "RequestBodyTooLarge",
        f"The request body is too large and exceeds the maximum permissible limit "
        f"({limit_bytes} bytes).",
    )


class RequestBody:
    """The ASGI request body, read once, chunk by chunk, with a size limit."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.done = False
        self.size_bytes = 0

    async def next_chunk(self, limit_bytes: int) -> bytes:
        """The next non-empty chunk, or b'' at the end; 413 once past ``limit_bytes``."""
        while not self.done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            self.done = not message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                self.size_bytes += len(chunk)
                if self.size_bytes > limit_bytes:
                    raise _too_large(limit_bytes)
                return chunk
        return b""

    async def read(self, limit_bytes: int) -> bytes:
        """The whole (small) body."""
        parts = []
        while chunk := await self.next_chunk(limit_bytes):
            parts.append(chunk)
        return b"".join(parts)

    async def drain(self, limit_bytes: int) -> bool:
        """Discard what is left of the body so an error reply reaches the client.

        Returns False if more than ``limit_bytes`` remained (then the
        connection should not be reused).
        """
        try:
            while await self.next_chunk(limit_bytes + self.size_bytes):
                pass
        except (ClientGone, BlobServiceError):
            return False
        return True

    def thread_reader(self, limit_bytes: int) -> io.BufferedReader:
        """A blocking file object over the body, for code running in a worker thread."""
        return io.BufferedReader(_ThreadRaw(self, limit_bytes), buffer_size=1024 * 1024)


class _ThreadRaw(io.RawIOBase):
    """Pulls chunks from the event loop on demand (``anyio.from_thread``)."""

    def __init__(self, body: RequestBody, limit_bytes: int) -> None:
        super().__init__()
        self._body = body
        self._limit_bytes = limit_bytes
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            chunk = anyio.from_thread.run(self._body.next_chunk, self._limit_bytes)
            if not chunk:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
