"""Child processes that never outlive the worker that started them (Linux).

Every ffmpeg/ffprobe a worker starts gets

- a parent-death signal: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the child
  before ``exec``, so the kernel kills it when the thread that started it
  goes, including when the whole worker is ``kill -9``-ed (no orphan
  re-parented to PID 1 encoding beside the retried job);
- its own process group (``start_new_session``), so stopping it stops
  anything it started too (:func:`stop_group`), and a Ctrl-C meant for the
  server is not delivered to it directly.

Elsewhere than Linux the parent-death signal is skipped (no such call there).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl: Callable[..., int] = libc.prctl
    return prctl


# Resolved once in the parent: the child, between fork and exec, only calls it.
_PRCTL = _load_prctl()


def die_with_parent() -> None:
    """``preexec_fn``: ask for SIGKILL when the parent goes; if it already went, go now."""
    if _PRCTL is None:
        return
    parent = os.getppid()
    _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if parent == 1 or os.getppid() != parent:  # the parent died before the prctl took hold
        os._exit(1)


def child_options() -> dict[str, Any]:
    """The ``subprocess`` keyword arguments every encoding child is started with."""
    return {"start_new_session": True, "preexec_fn": die_with_parent}


def signal_group(process: subprocess.Popen[Any], signum: int) -> None:
    """Send ``signum`` to the process's group (it leads one: see :func:`child_options`)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop_group(process: subprocess.Popen[Any], grace_seconds: float) -> None:
    """SIGTERM to the group, SIGKILL to it after ``grace_seconds``; always reaps the process.

    The group gets SIGKILL before the leader is reaped (its pid, the group's id,
    cannot be reused until then), so a grandchild that ignored SIGTERM goes too.
    """
    signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while process.returncode is None and not _exited(process):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    signal_group(process, signal.SIGKILL)
    process.wait()


def _exited(process: subprocess.Popen[Any]) -> bool:
    """Whether the process has exited, without reaping it."""
    try:
        found = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # already reaped
        return True
    return found is not None
