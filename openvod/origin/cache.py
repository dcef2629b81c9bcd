"""Small in-process caches for the origin's hot path.

- :class:`SizedLru`: values bounded by their total cost in bytes (segment plans);
  :class:`ByteLruCache`, the same for responses, closes what it drops (a memfd
  goes back to the kernel). A zero budget turns either off.
- :class:`TtlCache`: values that may be a little stale (publishing lookups,
  blob listings), bounded by entry count.

- :class:`SingleFlight`: concurrent misses for one key share one load.

The TTL cache and SingleFlight are used from the event loop only; the LRUs
take a lock, since segments may be built in worker threads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from openvod.origin.bodies import CachedResponse

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SizedLru(Generic[K, V]):
    """Least-recently-used values within ``max_bytes``, each put with what it costs.

    Thread-safe (segment builders may run in worker threads); ``on_evict`` is
    called with each value the cache drops.
    """

    def __init__(self, max_bytes: int, on_evict: Callable[[V], None] | None = None) -> None:
        self.max_bytes = max(0, max_bytes)
        self._on_evict = on_evict
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._size_bytes = 0
        self._lock = threading.Lock()
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

        A value costing more than a quarter of the budget is not kept: one huge
        response must not flush every hot segment.
        """
        if size_bytes > self.max_bytes // 4:
            return
        dropped: list[V] = []
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size_bytes -= old[1]
                if old[0] is not value:
                    dropped.append(old[0])
            self._entries[key] = (value, size_bytes)
            self._size_bytes += size_bytes
            while self._size_bytes > self.max_bytes:
                _, (evicted, cost) = self._entries.popitem(last=False)
                self._size_bytes -= cost
                dropped.append(evicted)
        self._dropped(dropped)

    def discard(self, key: K) -> None:
        """Forget ``key`` if it is kept."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size_bytes -= old[1]
        if old is not None:
            self._dropped([old[0]])

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            dropped = [value for value, _ in self._entries.values()]
            self._entries.clear()
            self._size_bytes = 0
        self._dropped(dropped)

    def _dropped(self, values: list[V]) -> None:
        if self._on_evict is not None:
            for value in values:
                self._on_evict(value)


def _close_body(entry: CachedResponse) -> None:
    entry.body.close()


class ByteLruCache(SizedLru[K, "CachedResponse"]):
    """Responses within ``max_bytes``; a dropped entry's body is closed (a memfd goes back
    to the kernel)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes, on_evict=_close_body)

    def put(self, key: K, value: CachedResponse, size_bytes: int | None = None) -> None:
        """Keep a response; it costs its :attr:`~CachedResponse.size_bytes` unless told."""
        super().put(key, value, value.size_bytes if size_bytes is None else size_bytes)


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
