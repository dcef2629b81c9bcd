"""Process-wide tuning applied once at start-up by the serving commands."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)

# glibc mallopt parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc() -> None:
    """Keep large, short-lived buffers (TS muxing, segment bodies) in the heap.

    glibc hands allocations above its mmap threshold back to the kernel on free,
    so every segment paid ~300 page faults to fault its buffers in again
    (measured with bench/origin.py). Raising the thresholds keeps them mapped.

    Segment builds that read files run in the event loop's thread pool, and glibc
    gives each thread that allocates its own arena, each keeping freed buffers under
    the raised thresholds: a serving process grew from ~120 to ~200 MB under load.
    Two arenas (the loop's and one shared by the pool) keep that bounded.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 256 * 1024 * 1024)
        libc.mallopt(_M_ARENA_MAX, 2)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        log.debug("mallopt not available")



def tune_gc() -> None:
    """Keep the cyclic garbage collector off what start-up built.

    Call once the app is built. A serving process holds ~100 MB of long-lived
    objects (modules, the resource models' schemas, the database layer); each
    full collection walked all of them, which measured ~8 % of the CPU of a
    cache-off fMP4 request (bench/origin.py; docs/performance.md). ``gc.freeze``
    moves them to the permanent generation: collections then walk only what was
    made after, and reference counting frees everything as before. Only for
    serving processes: a frozen object that later becomes cyclic garbage is never
    collected, which is harmless for what lives as long as the process.
    """
    gc.collect()
    gc.freeze()
