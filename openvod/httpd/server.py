"""Listening, timeouts, graceful stop.

:func:`serve` runs one listener on the current event loop until ``stop`` is
set, then stops accepting, closes idle connections and gives busy ones
``limits.graceful_seconds`` to finish. One sweep task per listener checks the
timeouts of every connection a few times a second (no timer per request).
:func:`serve_forever` is the process entry: asyncio's own event loop
(``loop.sendfile`` needs it; uvloop's transports have no native sendfile)
with SIGINT/SIGTERM wired to the stop.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import ssl
from collections.abc import Callable

from openvod.httpd.limits import HttpLimits
from openvod.httpd.protocol import AsgiApp, HttpConnection, ServerState

log = logging.getLogger(__name__)

BACKLOG = 1024
# Descriptors kept for everything but connections (files, memfds, the database).
RESERVED_DESCRIPTORS = 256


async def serve(
    app: AsgiApp,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    limits: HttpLimits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    reuse_port: bool = False,
    ready: Callable[[int], None] | None = None,
    state_ready: Callable[[ServerState], None] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` until ``stop`` is set (``ready(port)`` once listening).

    ``state_ready`` receives the listener's :class:`ServerState` (its open
    connections), for tests and metrics.
    """
    loop = asyncio.get_running_loop()
    limits = limits or HttpLimits()
    state = ServerState(app, (host, port), limits, tls=ssl_context is not None)
    server = await loop.create_server(
        lambda: HttpConnection(state), host, port, backlog=BACKLOG, reuse_port=reuse_port,
        ssl=ssl_context, ssl_handshake_timeout=limits.header_timeout_seconds
        if ssl_context is not None else None,
    )  # fmt: skip
    bound = server.sockets[0].getsockname()[1]
    state.server_address = (host, int(bound))
    if state_ready is not None:
        state_ready(state)
    if ready is not None:
        ready(int(bound))
    sweeper = loop.create_task(_sweep(state))
    try:
        await stop.wait()
    finally:
        server.close()
        await _drain(state, limits.graceful_seconds)
        sweeper.cancel()
        await server.wait_closed()


async def _drain(state: ServerState, grace_seconds: float) -> None:
    """Close idle connections, let busy ones finish for up to ``grace_seconds``, abort the rest."""
    loop = asyncio.get_running_loop()
    state.closing = True
    for conn in list(state.connections):
        conn.shutdown()
    deadline = loop.time() + grace_seconds
    while state.connections and loop.time() < deadline:
        await asyncio.sleep(0.05)
    for conn in list(state.connections):
        conn.abort()
    await asyncio.sleep(0)  # let connection_lost run


async def _sweep(state: ServerState) -> None:
    """Check every connection's timeouts, a few times per shortest timeout."""
    loop = asyncio.get_running_loop()
    interval = state.limits.sweep_seconds
    while True:
        await asyncio.sleep(interval)
        now = loop.time()
        for conn in list(state.connections):
            try:
                conn.check_timeouts(now)
            except Exception:  # one bad connection must not stop the sweep
                log.exception("timeout check failed")
                conn.abort()


def raise_descriptor_limit() -> int:
    """Raise this process's open-file limit to its hard limit; returns the soft limit now.

    (Go's runtime and nginx's ``worker_rlimit_nofile`` do the same: a server needs
    a descriptor per connection, and the usual soft default of 1024 is low.)
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit above %d", soft)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def fit_limits(limits: HttpLimits, listeners: int = 1) -> HttpLimits:
    """``limits`` with ``max_connections`` lowered to what the descriptor limit allows."""
    from dataclasses import replace

    available = max(16, (raise_descriptor_limit() - RESERVED_DESCRIPTORS) // max(1, listeners))
    if limits.max_connections <= available:
        return limits
    log.warning("max_connections %d lowered to %d by the open-file limit",
                limits.max_connections, available)  # fmt: skip
    return replace(limits, max_connections=available)


def serve_forever(
    app_factory: Callable[[], AsgiApp],
    host: str,
    port: int,
    *,
    limits: HttpLimits | None = None,
    reuse_port: bool = False,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Build the app and serve it in this process until SIGINT or SIGTERM (then drain)."""
    fitted = fit_limits(limits or HttpLimits())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(app_factory(), host, port, stop, limits=fitted, reuse_port=reuse_port,
                    ready=ready)  # fmt: skip

    asyncio.run(main())
