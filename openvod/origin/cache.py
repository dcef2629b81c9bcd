"""Small in-process caches for the origin's hot path.

- :class:`ByteLruCache`: responses (segments, init segments, fragment plans)
  bounded by their total cost in bytes; a zero budget turns it off. An
  evicted entry's body is closed (a memfd goes back to the kernel).
- :class:`TtlCache`: values that may be a little stale (publishing lookups,
  blob listings), bounded by entry count.

- :class:`SingleFlight`: concurrent misses for one key share one load.

All are used from the event loop only, so they need no locks.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from openvod.origin.bodies import CachedResponse

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ByteLruCache(Generic[K]):
    """Least-recently-used :class:`CachedResponse` entries within ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, max_bytes)
        self._entries: OrderedDict[K, CachedResponse] = OrderedDict()
        self._size_bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        """Whether anything is ever kept."""
        return self.max_bytes > 0

    @property
    def size_bytes(self) -> int:
        """Bytes currently held."""
        return self._size_bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> CachedResponse | None:
        """The entry for ``key`` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: K, entry: CachedResponse) -> None:
        """Keep ``entry``, evicting the least recently used ones to stay in budget.

        An entry larger than a quarter of the budget is not kept: one huge
        response must not flush every hot segment.
        """
        if entry.size_bytes > self.max_bytes // 4:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._size_bytes -= old.size_bytes
            if old is not entry:
                old.body.close()
        self._entries[key] = entry
        self._size_bytes += entry.size_bytes
        while self._size_bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._size_bytes -= evicted.size_bytes
            evicted.body.close()

    def clear(self) -> None:
        """Drop everything."""
        for entry in self._entries.values():
            entry.body.close()
        self._entries.clear()
        self._size_bytes = 0


class TtlCache(Generic[K, V]):
    """Values that expire ``ttl_seconds`` after they were stored; at most ``max_entries``."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value if stored less than ``ttl_seconds`` ago, else None."""
        item = self._entries.get(key)
        if item is None:
            return None
        expires_at, value = item
        if time.monotonic() >= expires_at:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        """Store ``value``; the oldest entries go when the cache is full."""
        self._entries.pop(key, None)
        self._entries[key] = (time.monotonic() + self.ttl_seconds, value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop everything."""
        self._entries.clear()


class SingleFlight(Generic[K, V]):
    """Runs at most one load per key at a time; concurrent callers await the same result.

    The load runs as its own task, so a caller that goes away (client
    disconnect, cancellation) does not cancel it for the others.
    """

    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The result of ``load()``, started now or already running for ``key``."""
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(load())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._finish(key, done))
        return await asyncio.shield(task)

    def _finish(self, key: K, task: asyncio.Task[V]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter re-raises it on its own
