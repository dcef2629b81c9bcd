"""Writing a response: straight to the socket while it takes the bytes, else buffered.

Bytes go to the socket with ``send`` (and ``MSG_MORE`` while more follows) and
files with ``os.sendfile`` while the asyncio transport's buffer is empty; once
the socket is full they go through the transport and ``loop.sendfile``, so
ordering is kept either way. Under TLS everything goes through the transport
(files are read in a thread). The send timeout's progress clock lives here.
"""

from __future__ import annotations

import asyncio
import os
import socket

# The socket is full: loop.sendfile sends this much at a time, progress counted per piece.
_SENDFILE_PIECE_BYTES = 1024 * 1024
# Under TLS a file is read (in a thread) and written through the transport in pieces.
_READ_PIECE_BYTES = 256 * 1024


class _Fd:
    """A descriptor as the file object ``loop.sendfile`` wants (positions are explicit)."""

    mode = "rb"

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def seek(self, position: int, whence: int = 0) -> int:
        return position


class SocketWriter:
    """The writing half of a connection (a base of :class:`HttpConnection`)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.sock: socket.socket | None = None  # for direct sends; None under TLS
        self.writable = asyncio.Event()
        self.writable.set()
        self.send_progress = self.loop.time()
        self.send_blocked = False  # waiting for the socket inside a file send
        self.buffered_seen = 0

    def pause_writing(self) -> None:
        """asyncio: the transport's buffer is over its high-water mark."""
        self.writable.clear()

    def resume_writing(self) -> None:
        """asyncio: the transport's buffer drained."""
        self.writable.set()

    def abort(self) -> None:
        """Drop the connection now, discarding what is buffered."""
        if self.transport is not None:
            self.transport.abort()

    def _file_sent(self) -> None:
        """Called after a file send that had to wait for the socket."""

    def write(self, data: bytes | bytearray | memoryview, *, more: bool = False) -> None:
        """Write in order: straight to the socket while nothing is buffered, else buffered."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("connection closed")
        sock = self.sock
        if sock is not None and transport.get_write_buffer_size() == 0:
            try:
                sent = sock.send(data, socket.MSG_MORE if more else 0)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.abort()
                raise ConnectionResetError("connection closed") from None
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        transport.write(data)

    async def sendfile(self, fd: int, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``fd`` from ``offset`` with ``os.sendfile``."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("connection closed")
        sock = self.sock
        if sock is not None and transport.get_write_buffer_size() == 0:
            out = sock.fileno()
            while count > 0:
                try:
                    sent = os.sendfile(out, fd, offset, count)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    self.abort()
                    raise ConnectionResetError("connection closed") from None
                if sent == 0:
                    raise EOFError("the file ended before the range it was asked for")
                offset += sent
                count -= sent
            if count == 0:
                return
        # Wait for the socket. The app may close its descriptor meanwhile (a cache
        # eviction), so send from a duplicate of our own.
        own = os.dup(fd)
        try:
            if sock is None:
                await self._send_file_by_reads(own, offset, count)
            else:
                await self._send_file_waiting(own, offset, count)
        finally:
            os.close(own)
            self.send_blocked = False
            self._file_sent()

    async def _send_file_waiting(self, fd: int, offset: int, count: int) -> None:
        """``loop.sendfile`` in pieces: each one done is progress for the send timeout."""
        while count > 0:
            transport = self.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("connection closed")
            piece = min(count, _SENDFILE_PIECE_BYTES)
            self.send_blocked = True
            sent = await self.loop.sendfile(transport, _Fd(fd), offset, piece)  # type: ignore[arg-type]
            self.send_progress = self.loop.time()
            if sent < piece:
                raise EOFError("the file ended before the range it was asked for")
            offset += piece
            count -= piece

    async def _send_file_by_reads(self, fd: int, offset: int, count: int) -> None:
        """Under TLS: read pieces in a thread and write them through the transport."""
        while count > 0:
            data = await self.loop.run_in_executor(
                None, os.pread, fd, min(count, _READ_PIECE_BYTES), offset
            )
            if not data:
                raise EOFError("the file ended before the range it was asked for")
            self.write(data)
            await self.drain()
            offset += len(data)
            count -= len(data)

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its high-water mark."""
        if not self.writable.is_set():
            await self.writable.wait()
        if self.transport is None:
            raise ConnectionResetError("connection closed")
