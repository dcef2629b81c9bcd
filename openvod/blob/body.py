"""Reading request bodies without holding them in memory, and without holding a thread.

The bytes of an upload are awaited on the event loop; only complete chunks
(:data:`WRITE_CHUNK_BYTES`) go to a worker thread to be written
(:func:`copy_into`). A client that stalls mid-body costs a coroutine, not one
of the thread pool's threads, so stalled uploads cannot starve the server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyio import to_thread

from openvod.blob.errors import BlobServiceError
from openvod.storage.store import BlobWriter

Receive = Callable[[], Any]
# Bytes gathered on the event loop before one write in a thread.
WRITE_CHUNK_BYTES = 1024 * 1024


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


async def copy_into(body: RequestBody, writer: BlobWriter[Any], limit_bytes: int) -> int:
    """Write the whole body into ``writer`` in chunks of about :data:`WRITE_CHUNK_BYTES`;
    returns the bytes written. The caller commits or aborts the writer."""
    pending: list[bytes] = []
    pending_bytes = 0
    while chunk := await body.next_chunk(limit_bytes):
        pending.append(chunk)
        pending_bytes += len(chunk)
        if pending_bytes >= WRITE_CHUNK_BYTES:
            await to_thread.run_sync(writer.write, b"".join(pending))
            pending, pending_bytes = [], 0
    if pending:
        await to_thread.run_sync(writer.write, b"".join(pending))
    return body.size_bytes
