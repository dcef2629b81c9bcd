"""The limits every listener of openvod's HTTP server enforces, with their defaults.

The defaults follow nginx's spirit (time limits between two reads or two
writes, not for a whole request or response) with shorter values: a media
server's requests are small and its clients are players and CDNs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpLimits:
    """Time and size limits of one listener (see docs/serving.md)."""

    max_connections: int = 1024
    """Open connections per listener; one more is answered 503 and closed at once."""
    header_timeout_seconds: float = 15.0
    """A request head (from its first byte, or from the connection's start) must be
    complete within this; else the connection is closed (slowloris)."""
    body_timeout_seconds: float = 30.0
    """Longest wait for the next bytes of a request body; then the connection is
    closed and the app's ``receive()`` says ``http.disconnect``."""
    send_timeout_seconds: float = 30.0
    """Longest time a response may make no progress (the client stopped reading);
    then the connection is dropped."""
    keepalive_timeout_seconds: float = 30.0
    """An idle keep-alive connection is closed after this."""
    max_header_bytes: int = 64 * 1024
    """Request line plus headers; more is answered 431 before reading further."""
    max_headers: int = 100
    """Header fields per request; more is answered 431."""
    max_body_bytes: int = 16 * 1024 * 1024
    """A declared Content-Length over this is answered 413 without reading the body; a
    chunked body growing past it ends the request (413 if nothing was answered yet)."""
    max_pipelined_requests: int = 64
    """Requests received but not yet answered on one connection; reading pauses at a
    quarter of it, and a burst beyond it closes the connection after the queued ones."""
    body_buffer_bytes: int = 512 * 1024
    """Request body bytes queued for the app before reading from the socket pauses."""
    drain_body_bytes: int = 64 * 1024
    """When the app answers before reading the whole body, a remainder up to this is read
    and dropped to keep the connection; a larger one closes it (``Connection: close``)."""
    linger_seconds: float = 2.0
    """After answering with an unread body, how long incoming bytes are dropped before the
    socket is closed (so the client can read the answer before a reset)."""
    linger_bytes: int = 1024 * 1024
    """...and how many at most."""
    graceful_seconds: float = 10.0
    """On stop: how long in-flight responses may take to finish."""

    @property
    def sweep_seconds(self) -> float:
        """How often the timeouts are checked: a quarter of the shortest, 0.05-1 s."""
        shortest = min(self.header_timeout_seconds, self.body_timeout_seconds,
                       self.send_timeout_seconds, self.keepalive_timeout_seconds)  # fmt: skip
        return max(0.05, min(1.0, shortest / 4))
