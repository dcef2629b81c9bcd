"""Several serving processes sharing one port, one restarted when it dies.

:func:`supervise` runs N copies of a serving command that each bind the port
with ``SO_REUSEPORT`` (the kernel spreads connections over them) and restarts
one that dies (at most :data:`RESTARTS_PER_WINDOW` a minute); SIGTERM/SIGINT
stop them all gracefully (each drains its connections, then exits).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)

RESTART_WINDOW_SECONDS = 60.0
RESTARTS_PER_WINDOW = 5
# How long the children get to drain after SIGTERM before they are killed (by default).
STOP_SECONDS = 12.0


class Supervisor:
    """N copies of a serving command; a copy that dies is restarted (within limits)."""

    def __init__(self, argv: Sequence[str], count: int, env: dict[str, str] | None = None,
                 stop_seconds: float = STOP_SECONDS) -> None:  # fmt: skip
        self.stop_seconds = stop_seconds
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
        deadline = time.monotonic() + self.stop_seconds
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def supervise(argv: Sequence[str], count: int, env: dict[str, str] | None = None,
              stop_seconds: float = STOP_SECONDS) -> int:  # fmt: skip
    """Run ``count`` copies of ``argv`` (each binding the port with SO_REUSEPORT)."""
    environment = env if env is not None else dict(os.environ)
    return Supervisor(argv, count, environment, stop_seconds).run()
