"""Running openvod's HTTP server in a thread for tests, and raw-socket helpers."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from openvod.httpd import HttpLimits, serve
from openvod.httpd.protocol import AsgiApp, ServerState


@dataclass
class Running:
    """A server running in a thread: its port and its listener's state."""

    port: int
    state: ServerState
    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event
    thread: threading.Thread

    def connections(self) -> int:
        """How many connections the server holds now."""
        return len(self.state.connections)

    def request_stop(self) -> None:
        """Ask the server to stop (graceful drain)."""
        self.loop.call_soon_threadsafe(self.stop.set)


@contextmanager
def running(app: AsgiApp, limits: HttpLimits,
            ssl_context: ssl.SSLContext | None = None) -> Iterator[Running]:  # fmt: skip
    """Serve ``app`` on 127.0.0.1 in a thread; yields once it listens."""
    started = threading.Event()
    found: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            found["loop"], found["stop"] = asyncio.get_running_loop(), asyncio.Event()
            await serve(app, "127.0.0.1", 0, found["stop"], limits=limits,
                        ssl_context=ssl_context, ready=lambda p: found.update(port=p),
                        state_ready=lambda s: found.update(state=s))  # fmt: skip
            found["returned"] = True

        try:
            asyncio.run(main())
        finally:
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while "port" not in found and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.01)
    assert "port" in found, "the server did not start"
    handle = Running(found["port"], found["state"], found["loop"], found["stop"], thread)
    try:
        yield handle
    finally:
        if thread.is_alive():
            handle.request_stop()
        thread.join(30)
        assert not thread.is_alive()


def wait_until(check: Callable[[], bool], seconds: float = 30) -> bool:
    """Poll ``check`` until it holds or ``seconds`` pass (a bound against hangs only)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def open_descriptors() -> int:
    """Descriptors this process holds now."""
    return len(os.listdir("/proc/self/fd"))


def stalled_socket(port: int, request: bytes, host: str = "127.0.0.1") -> socket.socket:
    """A client with a tiny receive buffer that sends ``request`` and never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, port))
    sock.sendall(request)
    return sock


def read_head(sock: socket.socket) -> bytes:
    """Bytes up to the end of the first response head (or what came before the close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_to_close(sock: socket.socket, limit_bytes: int = 1 << 30) -> tuple[bytes, bool]:
    """Everything until the server closes; (data, closed) - closed False on timeout."""
    data = b""
    try:
        while len(data) < limit_bytes:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return data, True
            data += chunk
    except ConnectionResetError:
        return data, True
    except TimeoutError:
        return data, False
    return data, False
