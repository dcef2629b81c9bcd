"""The ASGI ``receive`` and ``send`` of one request on an :class:`HttpConnection`.

Besides ``http.response.body`` it implements the ``http.response.zerocopysend``
extension (the app names a descriptor, an offset and a count: the bytes go
from the page cache to the socket with ``sendfile``, never through Python) and
``http.response.pathsend`` (a whole file by path). Response headers are
validated: a name or value that would break the framing (CR, LF, NUL) turns
the response into a 500 from the server, never onto the wire.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import MutableMapping
from typing import Any, Protocol

from openvod.httpd.body import RequestBody
from openvod.httpd.framing import (
    DATE,
    KNOWN_LINES,
    InvalidResponseHeader,
    checked_line,
    status_line,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]



class Connection(Protocol):
    """What a responder needs of its connection (``HttpConnection`` provides it)."""

    transport: asyncio.Transport | None

    def write(self, data: bytes | bytearray | memoryview, *, more: bool = False) -> None:
        """Queue bytes for the socket (``more``: further bytes follow at once)."""

    async def sendfile(self, fd: int, offset: int, count: int) -> None:
        """Send ``count`` bytes of the file ``fd`` from ``offset``."""

    async def drain(self) -> None:
        """Wait until the socket takes what is queued."""

    def may_keep(self, responder: Responder) -> bool:
        """Whether the connection may serve another request after this response."""


_NO_BODY_STATUSES = frozenset({204, 304})
# A response head and a body part up to this size go to the socket in one send.
_COALESCE_BYTES = 16 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Request:
    """A parsed request head, its body as it arrives, and whether it allows keep-alive."""

    __slots__ = ("scope", "body", "keep_alive", "expects_continue")

    def __init__(self, scope: Scope, body: RequestBody, keep_alive: bool,
                 expects_continue: bool) -> None:  # fmt: skip
        self.scope = scope
        self.body = body
        self.keep_alive = keep_alive
        self.expects_continue = expects_continue


class Responder:
    """The ``receive`` and ``send`` of one request."""

    __slots__ = ("conn", "request", "head_only", "version", "started", "complete", "keep_alive",
                 "chunked", "remaining", "no_body", "continued", "body_done", "lines",
                 "_ended")  # fmt: skip

    def __init__(self, conn: Connection, request: Request) -> None:
        self.conn = conn
        self.request = request
        self.head_only = request.scope["method"] == "HEAD"
        self.version = b"1.0" if request.scope["http_version"] == "1.0" else b"1.1"
        self.started = False
        self.complete = False
        self.keep_alive = True
        self.chunked = False
        self.remaining: int | None = None  # content-length not yet sent
        self.no_body = False
        self.continued = False  # "100 Continue" sent
        self.body_done = False  # receive() gave the last body message
        self.lines: list[bytes] = []  # the head, until written
        self._ended: asyncio.Event | None = None  # made when someone waits for the end

    async def receive(self) -> Message:
        """The body as it arrives; then, once the response is complete, ``http.disconnect``."""
        body = self.request.body
        if not self.body_done and not self.complete:
            if self.request.expects_continue and not (self.continued or self.started):
                self.continued = True
                if not body.complete:
                    self.conn.write(_CONTINUE)
            message = await body.next_message()
            if message["type"] != "http.request" or not message["more_body"]:
                self.body_done = True
            return message
        # ASGI: after the body, receive() waits until the response is complete or the
        # client disconnects, then says "http.disconnect".
        if not self.complete and self.conn.transport is not None:
            if self._ended is None:
                self._ended = asyncio.Event()
            await self._ended.wait()
        return {"type": "http.disconnect"}

    def end(self) -> None:
        """The response is complete or the connection gone: wake a pending receive()."""
        if self._ended is not None:
            self._ended.set()

    async def send(self, message: Message) -> None:
        """One ASGI message of the response."""
        kind = message["type"]
        if kind == "http.response.start":
            self._start(message)
        elif kind == "http.response.body":
            await self._body(message.get("body", b""), bool(message.get("more_body", False)))
        elif kind == "http.response.zerocopysend":
            await self._zerocopy(message)
        elif kind == "http.response.pathsend":
            await self._pathsend(message["path"])
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    async def send_plain(self, status: int, text: bytes) -> None:
        """A short text answer from the server itself; the connection closes after it."""
        self._start({
            "type": "http.response.start", "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(text)).encode())],
        })  # fmt: skip
        self.keep_alive = False
        await self._body(text, False)

    def _start(self, message: Message) -> None:
        if self.started:
            raise RuntimeError("the response has already started")
        status = int(message["status"])
        lines = [status_line(self.version, status), DATE.line()]
        keep_alive, remaining = True, None
        known = KNOWN_LINES
        for name, value in message.get("headers", ()):
            try:  # a pair checked before (never a framing header: those are not kept)
                line = known.get((name, value))
            except TypeError:  # bytearray
                line = None
            if line is not None:
                lines.append(line)
                continue
            name, value = bytes(name), bytes(value)
            lowered = name.lower()
            if lowered == b"content-length":  # read every time, never remembered
                if not value.isdigit():
                    raise InvalidResponseHeader(f"content-length {value[:40]!r}")
                remaining = int(value)
                lines.append(b"%s: %s\r\n" % (name, value))  # digits: nothing to inject
            elif lowered == b"connection":
                keep_alive = keep_alive and value.lower() != b"close"
            elif lowered == b"transfer-encoding":
                pass  # the server decides the framing
            else:
                lines.append(checked_line(name, value))
        self.started = True  # from here on the head is valid: it will be written
        self.remaining = remaining
        self.no_body = self.head_only or status in _NO_BODY_STATUSES or status < 200
        if not keep_alive or not self.request.keep_alive or not self.conn.may_keep(self):
            lines.append(b"connection: close\r\n")
            self.keep_alive = False
        elif self.version == b"1.0":
            lines.append(b"connection: keep-alive\r\n")
        self.lines = lines

    def _head(self, *, body_length: int | None) -> bytes:
        """The status line and headers, with the framing the app left out; once."""
        lines = self.lines
        if self.remaining is None and not self.no_body:
            if body_length is not None:
                lines.append(b"content-length: %d\r\n" % body_length)
                self.remaining = body_length
            elif self.version == b"1.1":
                lines.append(b"transfer-encoding: chunked\r\n")
                self.chunked = True
            else:
                if self.keep_alive:  # HTTP/1.0: the end of the body is the close
                    lines.append(b"connection: close\r\n")
                self.keep_alive = False
        lines.append(b"\r\n")
        self.lines = []
        return b"".join(lines)

    async def _body(self, body: bytes | bytearray | memoryview, more_body: bool) -> None:
        if not self.started:
            raise RuntimeError("a body before the response start")
        if self.complete:
            raise RuntimeError("the response is already complete")
        head = b""
        if self.lines:
            head = self._head(body_length=None if more_body else len(body))
        conn = self.conn
        if body and not self.no_body:
            self._account(len(body))
            if self.chunked:
                conn.write(head + b"%x\r\n" % len(body), more=True)
                conn.write(body, more=True)
                conn.write(b"\r\n", more=more_body)
            elif head and len(body) <= _COALESCE_BYTES:
                conn.write(head + body, more=more_body)  # one segment when it fits
            else:
                if head:
                    conn.write(head, more=True)
                conn.write(body, more=more_body)
            await conn.drain()
        elif head:
            conn.write(head, more=more_body)
        if not more_body:
            self._finish()

    async def _zerocopy(self, message: Message) -> None:
        file = message["file"]
        fd = file if isinstance(file, int) else file.fileno()
        offset = int(message.get("offset") or 0)
        count = message.get("count")
        if count is None:
            count = os.fstat(fd).st_size - offset
        count = int(count)
        more_body = bool(message.get("more_body", False))
        if self.lines:
            head = self._head(body_length=None if more_body else count)
            self.conn.write(head, more=(count > 0 and not self.no_body) or more_body)
        if count > 0 and not self.no_body:
            self._account(count)
            if self.chunked:
                self.conn.write(b"%x\r\n" % count, more=True)
                await self.conn.sendfile(fd, offset, count)
                self.conn.write(b"\r\n", more=more_body)
            else:
                await self.conn.sendfile(fd, offset, count)
        if not more_body:
            self._finish()

    async def _pathsend(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            await self._zerocopy({"file": fd, "offset": 0, "count": None})
        finally:
            os.close(fd)

    def _account(self, size: int) -> None:
        if self.remaining is None or self.chunked:
            return
        if size > self.remaining:
            raise RuntimeError("the body is longer than its content-length")
        self.remaining -= size

    def _finish(self) -> None:
        self.complete = True
        self.end()
        if self.chunked and not self.no_body:
            self.conn.write(b"0\r\n\r\n")
        elif self.remaining and not self.no_body:
            self.keep_alive = False  # shorter than announced: the close tells the client
