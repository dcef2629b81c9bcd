"""Process-wide tuning applied once at start-up by the serving commands."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# glibc mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc() -> None:
    """Keep large, short-lived buffers (TS muxing, segment bodies) in the heap.

    glibc hands allocations above its mmap threshold back to the kernel on free,
    so every segment paid ~300 page faults to fault its buffers in again
    (measured with bench/origin.py). Raising the thresholds keeps them mapped.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 256 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        log.debug("mallopt not available")
