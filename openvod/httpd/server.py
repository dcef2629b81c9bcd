"""Listening, graceful stop, and several serving processes sharing one port.

:func:`serve` runs one listener on the current event loop until ``stop`` is
set, then stops accepting, closes idle connections and gives busy ones
``grace_seconds`` to finish. :func:`serve_forever` is the process entry:
asyncio's own event loop (``loop.sendfile`` needs it; uvloop's transports have
no native sendfile) with SIGINT/SIGTERM wired to the stop. :func:`supervise`
runs N copies of a serving command that each bind the port with
``SO_REUSEPORT`` (the kernel spreads connections over them) and restarts one
that dies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence

from openvod.httpd.protocol import IDLE_TIMEOUT_SECONDS, AsgiApp, HttpConnection, ServerState

log = logging.getLogger(__name__)

BACKLOG = 1024
GRACE_SECONDS = 10.0
RESTART_WINDOW_SECONDS = 60.0
RESTARTS_PER_WINDOW = 5


async def serve(
    app: AsgiApp,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    reuse_port: bool = False,
    ready: Callable[[int], None] | None = None,
    grace_seconds: float = GRACE_SECONDS,
    idle_seconds: float = IDLE_TIMEOUT_SECONDS,
) -> None:
    """Serve ``app`` on ``host:port`` until ``stop`` is set (``ready(port)`` once listening).

    Keep-alive connections idle for ``idle_seconds`` are closed."""
    loop = asyncio.get_running_loop()
    state = ServerState(app, (host, port))
    server = await loop.create_server(
        lambda: HttpConnection(state), host, port, backlog=BACKLOG, reuse_port=reuse_port
    )
    bound = server.sockets[0].getsockname()[1]
    state.server_address = (host, int(bound))
    if ready is not None:
        ready(int(bound))
    sweeper = loop.create_task(_close_idle(state, idle_seconds))
    try:
        await stop.wait()
    finally:
        sweeper.cancel()
        state.closing = True
        server.close()
        for conn in list(state.connections):
            conn.shutdown()
        deadline = loop.time() + grace_seconds
        while state.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(state.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await server.wait_closed()


async def _close_idle(state: ServerState, idle_seconds: float) -> None:
    """Close keep-alive connections idle for longer than ``idle_seconds``.

    One sweep every few seconds instead of a timer per request: the timeout is
    honoured within a quarter of itself.
    """
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(idle_seconds / 4)
        deadline = loop.time() - idle_seconds
        for conn in list(state.connections):
            conn.close_if_idle_since(deadline)


def serve_forever(
    app_factory: Callable[[], AsgiApp],
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Build the app and serve it in this process until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(app_factory(), host, port, stop, reuse_port=reuse_port, ready=ready)

    asyncio.run(main())


class Supervisor:
    """N copies of a serving command; a copy that dies is restarted (within limits)."""

    def __init__(self, argv: Sequence[str], count: int, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.count = count
        self.env = env
        self.children: list[subprocess.Popen[bytes]] = []
        self.stopping = False
        self.gave_up = False
        self._restarts: list[float] = []

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv, env=self.env)

    def run(self) -> int:
        """Run until SIGINT/SIGTERM (then stop the children) or too many crashes."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.children = [self._spawn() for _ in range(self.count)]
            while not self.stopping:
                time.sleep(0.2)
                for index, child in enumerate(self.children):
                    if child.poll() is None or self.stopping:
                        continue
                    if not self._may_restart():
                        log.error("serving processes keep exiting; giving up")
                        self.gave_up = self.stopping = True
                        break
                    log.warning("serving process %d exited with %s; restarting",
                                child.pid, child.returncode)  # fmt: skip
                    self.children[index] = self._spawn()
        finally:
            self._stop_children()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 1 if self.gave_up else 0

    def _may_restart(self) -> bool:
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW_SECONDS]
        self._restarts.append(now)
        return len(self._restarts) <= RESTARTS_PER_WINDOW

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _stop_children(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS + 2
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def supervise(argv: Sequence[str], count: int, env: dict[str, str] | None = None) -> int:
    """Run ``count`` copies of ``argv`` (each binding the port with SO_REUSEPORT)."""
    return Supervisor(argv, count, env if env is not None else dict(os.environ)).run()
