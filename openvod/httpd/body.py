"""A request body as it arrives: chunks queued for the app's ``receive()``, with backpressure.

The connection feeds chunks as the parser yields them and pauses reading from
the socket while more than a high-water mark waits here; the app's
``receive()`` takes everything queued at once and, once the queue is short
again, the connection resumes reading (``on_drained``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]


class RequestBody:
    """The body of one request, between the parser and the app."""

    __slots__ = ("declared_bytes", "received_bytes", "queued_bytes", "complete", "failed",
                 "too_large", "discarding", "_chunks", "_waiter", "_on_drained")  # fmt: skip

    def __init__(self, declared_bytes: int | None, on_drained: Callable[[], None]) -> None:
        self.declared_bytes = declared_bytes  # Content-Length, None when chunked
        self.received_bytes = 0
        self.queued_bytes = 0
        self.complete = declared_bytes == 0  # the parser saw the message end
        self.failed = False  # the client went away, was too slow, or sent too much
        self.too_large = False
        self.discarding = False  # the app is done with it: drop what still arrives
        self._chunks: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._on_drained = on_drained

    @property
    def remaining_bytes(self) -> int | None:
        """Bytes still to come (None: unknown, chunked)."""
        if self.complete:
            return 0
        if self.declared_bytes is None:
            return None
        return self.declared_bytes - self.received_bytes

    def feed(self, chunk: bytes) -> None:
        """Bytes from the parser."""
        self.received_bytes += len(chunk)
        if self.discarding:
            return
        self._chunks.append(chunk)
        self.queued_bytes += len(chunk)
        self._wake()

    def finish(self) -> None:
        """The parser reached the end of the body."""
        self.complete = True
        self._wake()

    def fail(self, *, too_large: bool = False) -> None:
        """The body will not be completed: the app's next ``receive()`` says disconnect."""
        if not self.complete:
            self.failed = True
            self.too_large = self.too_large or too_large
        self._wake()

    def discard(self) -> None:
        """The response is complete: forget the queue, drop whatever else arrives."""
        self.discarding = True
        self._chunks.clear()
        self.queued_bytes = 0
        self._wake()

    async def next_message(self) -> Message:
        """The next ``http.request`` message (all queued bytes), or ``http.disconnect``."""
        while not (self._chunks or self.complete or self.failed or self.discarding):
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if (self.failed or self.discarding) and not self._chunks:
            return {"type": "http.disconnect"}
        if len(self._chunks) == 1:
            data = self._chunks.popleft()
        else:
            data = b"".join(self._chunks)
            self._chunks.clear()
        self.queued_bytes = 0
        self._on_drained()
        more = not self.complete
        return {"type": "http.request", "body": data, "more_body": more}

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
