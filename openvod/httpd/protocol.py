"""One HTTP/1.1 connection: httptools parsing, an ASGI call per request, zero-copy sends.

The origin's requests are small GETs whose answers are large: a few hundred
kilobytes of segment, most of it bytes already in a file. This protocol runs
an ASGI 3 app per request (one at a time per connection; pipelined requests
wait their turn) and implements, besides ``http.response.body``, the ASGI
``http.response.zerocopysend`` extension: the app names a file descriptor,
an offset and a count, and the bytes go from the page cache to the socket
with ``os.sendfile`` without passing through Python. ``http.response.pathsend``
is the same for a whole file by path.

Writes bypass the asyncio transport while its buffer is empty (response head
with ``MSG_MORE`` so it shares a TCP segment with the body, then
``sendfile``), and fall back to the transport and ``loop.sendfile`` when the
socket is full, so ordering is kept either way. What is not here: TLS,
HTTP/2, upgrades (answered 400), request bodies beyond a small limit (the
origin takes none), and the ASGI lifespan protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

import httptools

from openvod.httpkit.dates import format_http_date

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
MAX_PIPELINED = 16
IDLE_TIMEOUT_SECONDS = 30.0
EXTENSIONS: dict[str, dict[str, Any]] = {
    "http.response.zerocopysend": {},
    "http.response.pathsend": {},
}
_ASGI = {"version": "3.0", "spec_version": "2.3"}
_NO_BODY_STATUSES = frozenset({204, 304})
# A response head and a body part up to this size go to the socket in one send.
_COALESCE_BYTES = 16 * 1024


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


_STATUS_LINES = {
    (version, status): b"HTTP/%s %d %s\r\n" % (version, status, _reason(status))
    for version in (b"1.1", b"1.0")
    for status in range(100, 600)
}


class _DateHeader:
    """The ``date`` header line, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"date: " + format_http_date(now).encode("ascii") + b"\r\n"
        return self._line


DATE = _DateHeader()


class _Fd:
    """A descriptor as the file object ``loop.sendfile`` wants (positions are explicit)."""

    mode = "rb"

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def seek(self, position: int, whence: int = 0) -> int:
        return position


class ServerState:
    """What the connections of one listening server share: the app and the open connections."""

    def __init__(self, app: AsgiApp, server_address: tuple[str, int]) -> None:
        self.app = app
        self.server_address = server_address
        self.connections: set[HttpConnection] = set()
        self.closing = False


class _Request:
    __slots__ = ("scope", "body", "keep_alive")

    def __init__(self, scope: Scope, keep_alive: bool) -> None:
        self.scope = scope
        self.body = b""
        self.keep_alive = keep_alive


class HttpConnection(asyncio.Protocol):
    """An HTTP/1.1 connection serving an ASGI app, one request at a time."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.sock: socket.socket | None = None
        self.client: tuple[str, int] | None = None
        self.pending: deque[_Request] = deque()
        self.responder: _Responder | None = None  # of the request being answered
        self.task: asyncio.Task[None] | None = None
        self.reading_paused = False
        self.writable = asyncio.Event()
        self.writable.set()
        # Loop time since when no request has been in flight (None while one is). Bytes
        # arriving do not reset it: a request trickled in slower than the idle timeout
        # (slowloris) is cut off like an idle connection.
        self.idle_since: float | None = None
        # the request being parsed
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._parsing: _Request | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        wrapped = transport.get_extra_info("socket")
        if wrapped is not None:
            with contextlib.suppress(OSError):
                wrapped.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # asyncio hands out a restricted wrapper; direct sends need the socket itself.
            # Without it every write goes through the transport, which is only slower.
            sock = getattr(wrapped, "_sock", None)
            self.sock = sock if isinstance(sock, socket.socket) else None
        peer = transport.get_extra_info("peername")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None
        self.state.connections.add(self)
        self.idle_since = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        self.writable.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.pending.clear()
        self.transport = None
        if self.responder is not None:
            self.responder.end()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, b"Upgrades are not supported.\n")
        except httptools.HttpParserError as exc:
            # httptools wraps what a callback raised (our _TooLarge) in its own error
            cause = exc.__context__ if isinstance(exc.__context__, _TooLarge) else exc
            if isinstance(cause, _TooLarge):
                self._reject(cause.status, cause.text)
            else:
                self._reject(400, b"Malformed request.\n")
        except _TooLarge as exc:
            self._reject(exc.status, exc.text)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    # --- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._parsing = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._count_head(len(name) + len(value))

    def on_headers_complete(self) -> None:
        parsed = httptools.parse_url(self._url)
        raw_path = parsed.path or b"/"
        version = self.parser.get_http_version()
        scope: Scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self.state.server_address,
            "client": self.client,
            "scheme": "http",
            "method": self.parser.get_method().decode("ascii"),
            "root_path": "",
            "path": _decode_path(raw_path),
            "raw_path": raw_path,
            "query_string": parsed.query or b"",
            "headers": self._headers,
            "extensions": EXTENSIONS,
        }
        self._parsing = _Request(scope, self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        request = self._parsing
        if request is None:
            return
        if len(request.body) + len(body) > MAX_BODY_BYTES:
            raise _TooLarge(413, b"Request body too large.\n")
        request.body += body

    def on_message_complete(self) -> None:
        request = self._parsing
        self._parsing = None
        if request is None:
            return
        self.pending.append(request)
        if len(self.pending) >= MAX_PIPELINED and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        if self.task is None:
            self._start_next()

    # --- requests -----------------------------------------------------------------------

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _TooLarge(431, b"Request header fields too large.\n")

    def _start_next(self) -> None:
        if not self.pending or self.transport is None:
            self.task = None
            if self.transport is not None:
                self.idle_since = self.loop.time()
            return
        request = self.pending.popleft()
        if self.reading_paused and len(self.pending) < MAX_PIPELINED // 2:
            self.transport.resume_reading()
            self.reading_paused = False
        self.idle_since = None
        self.task = self.loop.create_task(self._run(request))

    async def _run(self, request: _Request) -> None:
        responder = self.responder = _Responder(self, request)
        try:
            await self.state.app(request.scope, responder.receive, responder.send)
        except asyncio.CancelledError:
            self._close()
            raise
        except (ConnectionError, EOFError) as exc:  # the client went away, or the file shrank
            log.debug("response aborted: %r", exc)
            self._close()
            return
        except Exception:
            log.exception("unhandled error in the ASGI app")
            if not responder.started:
                await responder.send_plain(500, b"Internal server error.\n")
            else:
                self._close()
                return
        if not responder.complete:
            if not responder.started:
                await responder.send_plain(500, b"The app sent no response.\n")
            else:
                self._close()  # the client cannot tell where the body ends
                return
        self.responder = None
        if not (request.keep_alive and responder.keep_alive) or self.state.closing:
            self._close()
            return
        self._start_next()

    def _reject(self, status: int, text: bytes) -> None:
        """Answer a request that cannot be parsed or is too large, then close."""
        if self.transport is None:
            return
        if self.task is None:
            head = _STATUS_LINES[(b"1.1", status)] + DATE.line() + (
                b"content-type: text/plain; charset=utf-8\r\n"
                b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(text)
            )
            self.transport.write(head + text)
        self._close()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def shutdown(self) -> None:
        """Close now if idle; a busy connection closes after its current response."""
        if self.task is None:
            self._close()

    def close_if_idle_since(self, deadline: float) -> None:
        """Close when nothing has been in flight since before ``deadline`` (loop time)."""
        if self.idle_since is not None and self.idle_since < deadline and self.task is None:
            self._close()

    # --- writing ------------------------------------------------------------------------

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
                self._close()
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
                    self._close()
                    raise ConnectionResetError("connection closed") from None
                if sent == 0:
                    raise EOFError("the file ended before the range it was asked for")
                offset += sent
                count -= sent
            if count == 0:
                return
        # The socket is full: wait for it inside loop.sendfile. The app may close its
        # descriptor meanwhile (a cache eviction), so send from a duplicate of our own.
        own = os.dup(fd)
        try:
            await self.loop.sendfile(transport, _Fd(own), offset, count)  # type: ignore[arg-type]
        finally:
            os.close(own)

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its high-water mark."""
        if not self.writable.is_set():
            await self.writable.wait()
        if self.transport is None:
            raise ConnectionResetError("connection closed")


class _TooLarge(Exception):
    def __init__(self, status: int, text: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.text = text


def _decode_path(raw_path: bytes) -> str:
    from urllib.parse import unquote_to_bytes

    if b"%" not in raw_path:
        return raw_path.decode("latin-1")
    return unquote_to_bytes(raw_path).decode("utf-8", "replace")


class _Responder:
    """The ``receive`` and ``send`` of one request."""

    def __init__(self, conn: HttpConnection, request: _Request) -> None:
        self.conn = conn
        self.request = request
        self.head_only = request.scope["method"] == "HEAD"
        self.version = b"1.0" if request.scope["http_version"] == "1.0" else b"1.1"
        self.started = False
        self.complete = False
        self.keep_alive = True
        self.chunked = False
        self.remaining: int | None = None  # content-length not yet sent
        self.received = False
        self.no_body = False
        self.lines: list[bytes] = []  # the head, until written
        self._ended: asyncio.Event | None = None  # made when someone waits for the end

    async def receive(self) -> Message:
        if not self.received:
            self.received = True
            return {"type": "http.request", "body": self.request.body, "more_body": False}
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
        self.started = True
        status = int(message["status"])
        lines = [_STATUS_LINES.get((self.version, status)) or b"HTTP/1.1 %d \r\n" % status,
                 DATE.line()]  # fmt: skip
        for name, value in message.get("headers", ()):
            lowered = bytes(name).lower()
            if lowered == b"content-length":
                self.remaining = int(value)
            elif lowered == b"connection":
                if bytes(value).lower() == b"close":
                    self.keep_alive = False
                continue
            elif lowered == b"transfer-encoding":
                continue  # the server decides the framing
            lines.append(b"%s: %s\r\n" % (bytes(name), bytes(value)))
        self.no_body = self.head_only or status in _NO_BODY_STATUSES or status < 200
        if not self.keep_alive or not self.request.keep_alive:
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
                self.keep_alive = False  # HTTP/1.0: the end of the body is the close
                lines.append(b"connection: close\r\n")
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
        if body and not self.no_body:
            self._account(len(body))
            if self.chunked:
                self.conn.write(head + b"%x\r\n" % len(body), more=True)
                self.conn.write(body, more=True)
                self.conn.write(b"\r\n", more=more_body)
            elif head and len(body) <= _COALESCE_BYTES:
                self.conn.write(head + body, more=more_body)  # one segment when it fits
            else:
                if head:
                    self.conn.write(head, more=True)
                self.conn.write(body, more=more_body)
            await self.conn.drain()
        elif head:
            self.conn.write(head, more=more_body)
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
