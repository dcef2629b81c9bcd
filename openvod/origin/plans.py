"""A byte-bounded, thread-safe LRU for values that know their size: memoised segment plans.

The response cache (:class:`~openvod.origin.cache.ByteLruCache`) keeps whole
responses and is used from the event loop only; segment plans
(:class:`~openvod.media.ts.plan.TsSegmentPlan`, a few percent of their
segment) are made and used by segment builders, which may run in worker
threads, so this one takes a lock. Unlike ``LoadedAsset.memo`` it is
bounded: a process streaming many assets keeps only the plans of the
segments asked for most recently within its budget.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# A key tuple, its entry in the OrderedDict: a rough per-entry cost on top of the value.
ENTRY_OVERHEAD_BYTES = 256


class SizedLru(Generic[K, V]):
    """Least-recently-used values within ``max_bytes`` (each put with its size)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, max_bytes)
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._size_bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        """Bytes currently held (values' sizes plus a fixed overhead each)."""
        return self._size_bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: K, value: V, size_bytes: int) -> None:
        """Keep ``value``, evicting the least recently used values to stay in budget.

        A value larger than a quarter of the budget is not kept.
        """
        cost = size_bytes + ENTRY_OVERHEAD_BYTES
        if cost > self.max_bytes // 4:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size_bytes -= old[1]
            self._entries[key] = (value, cost)
            self._size_bytes += cost
            while self._size_bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._size_bytes -= evicted

    def discard(self, key: K) -> None:
        """Forget ``key`` if it is kept."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size_bytes -= old[1]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._size_bytes = 0
