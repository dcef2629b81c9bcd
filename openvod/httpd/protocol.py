"""One HTTP/1.1 connection: httptools parsing, an ASGI call per request, limits enforced.

Requests run one at a time per connection (pipelined ones wait their turn);
the app starts as soon as a request's head is parsed and reads its body as it
arrives (:mod:`openvod.httpd.body`, with backpressure). Responses are written
by :mod:`openvod.httpd.responder`: straight to the socket while the asyncio
transport's buffer is empty (the head with ``MSG_MORE`` so it shares a TCP
segment with the body, then ``sendfile``), through the transport and
``loop.sendfile`` when the socket is full, and only through the transport
under TLS.

Every limit of :class:`~openvod.httpd.limits.HttpLimits` is enforced here:
the server's sweep calls :meth:`HttpConnection.check_timeouts` on each
connection (header, body, send and keep-alive timeouts, measured from the
last progress); sizes are checked as bytes arrive. A request refused before
its app runs (431, 413, 400) is answered with ``Connection: close``, then the
connection lingers briefly, dropping what still arrives, so the client reads
the answer before the socket closes. Not here: HTTP/2, upgrades (answered
400), and the ASGI lifespan protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httptools

from openvod.httpd.body import RequestBody
from openvod.httpd.framing import (
    InvalidResponseHeader,
    body_headers,
    decode_path,
    plain_response,
)
from openvod.httpd.limits import HttpLimits
from openvod.httpd.responder import Request, Responder
from openvod.httpd.writer import SocketWriter

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

EXTENSIONS: dict[str, dict[str, Any]] = {
    "http.response.zerocopysend": {},
    "http.response.pathsend": {},
}
_ASGI = {"version": "3.0", "spec_version": "2.3"}
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")}


def _method_name(raw: bytes) -> str:
    """The ASGI ``method`` (a str; the common ones without decoding)."""
    return _METHODS.get(raw) or raw.decode("ascii")


class ServerState:
    """What the connections of one listener share: the app, the limits, the connections."""

    def __init__(self, app: AsgiApp, server_address: tuple[str, int], limits: HttpLimits,
                 *, tls: bool = False) -> None:  # fmt: skip
        self.app = app
        self.server_address = server_address
        self.limits = limits
        self.scheme = "https" if tls else "http"
        self.connections: set[HttpConnection] = set()
        self.refused_connections = 0  # answered 503 over max_connections
        self.closing = False


class _Refused(Exception):
    """A request the server answers itself (``status``) and closes after."""

    def __init__(self, status: int, text: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.text = text


class _TooManyPipelined(Exception):
    """More requests waiting than ``max_pipelined_requests``: answer those, then close."""


class HttpConnection(SocketWriter, asyncio.Protocol):
    """An HTTP/1.1 connection serving an ASGI app, one request at a time."""

    def __init__(self, state: ServerState) -> None:
        super().__init__()
        self.state = state
        self.limits = state.limits
        # requests waiting before reading pauses
        self._pause_pending = max(1, state.limits.max_pipelined_requests // 4)
        self.parser = httptools.HttpRequestParser(self)
        self.client: tuple[str, int] | None = None
        self.pending: deque[Request] = deque()
        self.responder: Responder | None = None  # of the request being answered
        self.task: asyncio.Task[None] | None = None
        self.reading_paused = False
        self.accepting = True  # further requests are parsed
        self.refusal: tuple[int, bytes] | None = None  # to answer once the queue is done
        self.served = 0
        self.abort_requested = False
        # Progress clocks (loop time) for the timeouts; see check_timeouts.
        now = self.loop.time()
        self.idle_since: float | None = now  # nothing in flight, nothing received since
        self.head_started: float | None = None  # first byte of a head not yet complete
        self.body_progress = now
        self.linger_until: float | None = None
        self.lingered_bytes = 0
        # the request being parsed
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0  # of the request line and header fields parsed so far
        self._head_raw = 0  # bytes received while one head stayed incomplete
        self._heads_begun = 0
        self._parsing: Request | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        state = self.state
        if len(state.connections) >= self.limits.max_connections or state.closing:
            # uvicorn's --limit-concurrency answers 503 too; nginx stops accepting, which
            # leaves clients waiting in the backlog. A 503 tells them at once.
            state.refused_connections += 1
            self.accepting = False
            transport.write(plain_response(503, b"Too many connections.\n",
                                           extra=b"retry-after: 1\r\n"))  # fmt: skip
            transport.close()
            return
        state.connections.add(self)
        wrapped = transport.get_extra_info("socket")
        if wrapped is not None:
            with contextlib.suppress(OSError):
                wrapped.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # asyncio hands out a restricted wrapper; direct sends need the socket itself.
            # Under TLS every byte must go through the transport (it encrypts).
            sock = getattr(wrapped, "_sock", None)
            tls = transport.get_extra_info("sslcontext") is not None
            self.sock = sock if isinstance(sock, socket.socket) and not tls else None
        peer = transport.get_extra_info("peername")
        self.client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        self.writable.set()
        for request in self._requests():
            request.body.fail()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.pending.clear()
        self.transport = None
        if self.responder is not None:
            self.responder.end()

    def data_received(self, data: bytes) -> None:
        if self.linger_until is not None:
            self.lingered_bytes += len(data)
            if self.lingered_bytes > self.limits.linger_bytes:
                self.abort()
            return
        if not self.accepting:
            return
        heads_begun = self._heads_begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, b"Upgrades are not supported.\n")
        except httptools.HttpParserError as exc:
            # httptools wraps what a callback raised in its own error
            self._refuse_from(exc.__context__ or _Refused(400, b"Malformed request.\n"))
        except (_Refused, _TooManyPipelined) as exc:
            self._refuse_from(exc)
        else:
            # httptools holds a header line until its end: count what a head still
            # incomplete took in (a 20 MB header is refused after 64 KiB, not buffered).
            if heads_begun == self._heads_begun and self.head_started is not None:
                self._head_raw += len(data)
                if self._head_raw > self.limits.max_header_bytes:
                    self._reject(431, b"Request header fields too large.\n")

    def eof_received(self) -> bool | None:
        return None  # the transport closes; a response in flight is cancelled

    # --- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_bytes = self._head_raw = 0
        self._heads_begun += 1
        self.head_started = self.loop.time()
        self.idle_since = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._count_head(len(name) + len(value))
        if len(self._headers) > self.limits.max_headers:
            raise _Refused(431, b"Too many request header fields.\n")

    def on_headers_complete(self) -> None:
        try:
            declared, chunked, expects_continue = body_headers(self._headers)
        except ValueError:
            raise _Refused(400, b"Malformed Content-Length.\n") from None
        if declared is not None and declared > self.limits.max_body_bytes:
            raise _Refused(413, b"Request body too large.\n")
        if len(self.pending) >= self.limits.max_pipelined_requests:
            raise _TooManyPipelined()
        if declared is None and not chunked:
            declared = 0
        body = RequestBody(declared, self._update_reading)
        request = Request(self._scope(), body, self.parser.should_keep_alive(), expects_continue)
        self._parsing = request
        self.head_started = None
        self.body_progress = self.loop.time()
        self.pending.append(request)
        if self.task is None:
            self._start_next()
        else:
            self._update_reading()

    def on_body(self, chunk: bytes) -> None:
        request = self._parsing
        if request is None:
            return
        body = request.body
        if body.received_bytes + len(chunk) > self.limits.max_body_bytes:
            raise _Refused(413, b"Request body too large.\n")
        body.feed(chunk)
        self.body_progress = self.loop.time()
        if body.queued_bytes > self.limits.body_buffer_bytes:
            self._update_reading()

    def on_message_complete(self) -> None:
        request = self._parsing
        self._parsing = None
        if request is not None:
            request.body.finish()
        if self.task is None and not self.pending:
            self.idle_since = self.loop.time()  # a dropped remainder ended: idle from now
        self._update_reading()

    # --- requests -----------------------------------------------------------------------

    def _scope(self) -> Scope:
        parsed = httptools.parse_url(self._url)
        raw_path = parsed.path or b"/"
        return {
            "type": "http",
            "asgi": _ASGI,
            "http_version": self.parser.get_http_version(),
            "server": self.state.server_address,
            "client": self.client,
            "scheme": self.state.scheme,
            "method": _method_name(self.parser.get_method()),
            "root_path": "",
            "path": decode_path(raw_path),
            "raw_path": raw_path,
            "query_string": parsed.query or b"",
            "headers": self._headers,
            "extensions": EXTENSIONS,
        }

    def _requests(self) -> list[Request]:
        found = list(self.pending)
        if self.responder is not None:
            found.append(self.responder.request)
        if self._parsing is not None and self._parsing not in found:
            found.append(self._parsing)
        return found

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes:
            raise _Refused(431, b"Request header fields too large.\n")

    def _update_reading(self) -> None:
        """Pause reading while many requests or body bytes wait; resume when they drain."""
        parsing = self._parsing
        pause = (
            (not self.accepting and self.linger_until is None)
            or len(self.pending) >= self._pause_pending
            or (parsing is not None and parsing.body.queued_bytes > self.limits.body_buffer_bytes)
        )
        if pause == self.reading_paused:  # every request's calls but the rare ones that act
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if pause:
            transport.pause_reading()
            self.reading_paused = True
        else:
            transport.resume_reading()
            self.reading_paused = False
            self.body_progress = self.loop.time()  # waiting on ourselves does not count

    def _start_next(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            self.task = None
            return
        if not self.pending:
            self.task = None
            if not self.accepting and self._parsing is None:
                if self.refusal is not None:  # a refused request after the answered ones
                    transport.write(plain_response(*self.refusal))
                    self.refusal = None
                self._linger()
                return
            if self._parsing is None and self.head_started is None:
                self.idle_since = self.loop.time()
            self._update_reading()
            return
        request = self.pending.popleft()
        self._update_reading()
        self.idle_since = None
        self.task = self.loop.create_task(self._run(request))

    async def _run(self, request: Request) -> None:
        responder = self.responder = Responder(self, request)
        try:
            await self.state.app(request.scope, responder.receive, responder.send)
        except asyncio.CancelledError:
            self.abort()
            raise
        except (ConnectionError, EOFError) as exc:  # the client went away, or the file shrank
            log.debug("response aborted: %r", exc)
            self._close()
            return
        except InvalidResponseHeader as exc:
            log.error("%s %s: %s; answered 500 instead",
                      request.scope["method"], request.scope["path"][:200], exc)  # fmt: skip
            if not await self._answer(responder, 500, b"Internal server error.\n"):
                return
        except Exception:
            log.exception("unhandled error in the ASGI app")
            if not await self._answer(responder, 500, b"Internal server error.\n"):
                return
        if not responder.complete:
            body = request.body
            if body.too_large:
                text = (413, b"Request body too large.\n")
            elif body.failed:  # the client went away or stopped sending: nobody to answer
                self.abort()
                return
            else:
                text = (500, b"The app sent no response.\n")
            if not await self._answer(responder, *text):
                return
        self._after_response(request, responder)

    async def _answer(self, responder: Responder, status: int, text: bytes) -> bool:
        """The server's own answer when the app gave none; False if the connection ended."""
        if responder.started:
            self._close()  # the client cannot tell where the body ends
            return False
        try:
            await responder.send_plain(status, text)
        except (ConnectionError, RuntimeError):
            self.abort()
            return False
        return True

    def _after_response(self, request: Request, responder: Responder) -> None:
        self.responder = None
        self.served += 1
        unread = not request.body.complete
        request.body.discard()
        keep = request.keep_alive and responder.keep_alive and not self.state.closing
        if not keep:
            if unread or not self.accepting:
                self._linger()
            else:
                self._close()
            self.task = None
            return
        # A small unread remainder is dropped as it arrives; the next request follows it.
        self._start_next()

    def may_keep(self, responder: Responder) -> bool:
        """Whether the connection can stay open after this response (decided at its start)."""
        if self.state.closing or (not self.accepting and not self.pending):
            return False
        request = responder.request
        body = request.body
        if body.complete:
            return True
        if request.expects_continue and not responder.continued:
            return False  # the client may be waiting for "100 Continue" and never send it
        remaining = body.remaining_bytes
        return remaining is not None and remaining <= self.limits.drain_body_bytes

    def _refuse_from(self, cause: BaseException) -> None:
        if isinstance(cause, _TooManyPipelined):
            self.accepting = False  # answer what is queued, then close
            self._update_reading()
        elif isinstance(cause, _Refused):
            self._reject(cause.status, cause.text)
        else:
            self._reject(400, b"Malformed request.\n")

    def _reject(self, status: int, text: bytes) -> None:
        """Refuse what is being parsed: answered by the server once the queue is done."""
        self.accepting = False
        parsing = self._parsing
        if parsing is not None:  # its head was accepted: the body went wrong
            parsing.body.fail(too_large=status == 413)
        else:
            self.refusal = (status, text)
        self._parsing = None  # the parser is done with this connection
        self._update_reading()
        if self.task is None and not self.pending:
            self._start_next()

    # --- closing ------------------------------------------------------------------------

    def _close(self) -> None:
        """Close after what is buffered is sent (the send timeout still applies)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now, discarding what is buffered."""
        task = self.task
        if self.send_blocked and not self.abort_requested and task is not None and not task.done():
            # loop.sendfile must unwind first: aborting under it makes asyncio (3.11) fail
            # in connection_lost. The cancelled response aborts the connection itself (and
            # if the app swallowed the cancellation, the next sweep aborts it directly).
            self.abort_requested = True
            task.cancel()
            return
        super().abort()

    def _file_sent(self) -> None:
        self.body_progress = self.loop.time()  # reading was paused while waiting

    def _linger(self) -> None:
        """Close after an answer while the client may still be sending a body.

        Closing a socket with unread bytes sends a reset, which can destroy the
        answer before the client reads it; so the write side is shut after the
        answer and what still arrives is dropped for a short while (nginx's
        lingering close), then the socket is closed.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.accepting = False
        self.linger_until = self.loop.time() + self.limits.linger_seconds
        if transport.can_write_eof():
            transport.write_eof()
        self._update_reading()

    def shutdown(self) -> None:
        """Close now if idle; a busy connection closes after its current response."""
        if self.task is None:
            self._close()

    def check_timeouts(self, now: float) -> None:
        """Close the connection if it made no progress for longer than a limit allows."""
        transport = self.transport
        if transport is None:
            return
        limits = self.limits
        if self.linger_until is not None and now >= self.linger_until:
            self.abort()
            return
        buffered = transport.get_write_buffer_size()
        if buffered or self.send_blocked:
            if buffered < self.buffered_seen:
                self.send_progress = now
            self.buffered_seen = buffered
            if now - self.send_progress > limits.send_timeout_seconds:
                log.info("dropped %s: the client stopped reading", self.client)
                self.abort()
                return
        else:
            self.send_progress, self.buffered_seen = now, 0
        parsing = self._parsing
        if parsing is not None and not parsing.body.complete:
            stalled = not self.reading_paused and not self.send_blocked
            if stalled and now - self.body_progress > limits.body_timeout_seconds:
                parsing.body.fail()
                self.abort()
        elif self.head_started is not None:
            if now - self.head_started > limits.header_timeout_seconds:
                self.abort()
        elif self.task is None and not self.pending and self.idle_since is not None:
            timeout = limits.keepalive_timeout_seconds if self.served else (
                limits.header_timeout_seconds)  # fmt: skip
            if now - self.idle_since > timeout:
                self._close()
