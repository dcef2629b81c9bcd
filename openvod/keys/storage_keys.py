"""Asset storage keys: a random 256-bit key per storage-encrypted asset, kept wrapped.

The key is made when the asset is created, wrapped by the master key (bound to the
asset id, so a wrapped key copied onto another asset does not unwrap) and stored in
the asset row's ``extra`` JSON (``storageKey``), never in its ARM properties.
:class:`ContainerKeys` answers "which key encrypts this container?" for the blob store
(:class:`~openvod.storage.sealed.SealedStore`), with a short-lived cache.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import select
from sqlalchemy.orm import Session

from openvod.db.models import Resource
from openvod.keys.master import MasterKey
from openvod.storage.cipher import KEY_BYTES

EXTRA_FIELD = "storageKey"
ENCRYPTED_FORMAT = "MediaStorageClientEncryption"
CACHE_SECONDS = 10.0
_CACHE_MAX = 4096


def _context(asset_id: str) -> bytes:
    return b"openvod-asset-storage-key:" + asset_id.encode()


def new_wrapped_key(master: MasterKey, asset_id: str) -> str:
    """A fresh asset key, wrapped for storage (base64 text)."""
    return master.wrap_text(os.urandom(KEY_BYTES), _context(asset_id))


def asset_key(master: MasterKey, row: Resource) -> bytes | None:
    """The clear key of an asset row, or None if the asset is not storage-encrypted."""
    wrapped = (row.extra or {}).get(EXTRA_FIELD)
    if not isinstance(wrapped, str):
        return None
    return master.unwrap_text(wrapped, _context(row.resource_uuid))


def find_container_asset(session: Session, container: str) -> Resource | None:
    """The asset whose blob container is ``container``, if any."""
    query = select(Resource).where(
        Resource.kind == "assets", Resource.properties["container"].as_string() == container
    )
    return session.scalars(query).first()


class ContainerKeys:
    """container -> asset key (or None), read through ``session_scope``, cached briefly.

    A container's encryption is fixed when its asset is made, so a few seconds of
    caching only matters for a container deleted and remade under the same name.
    """

    def __init__(
        self,
        session_scope: Callable[[], AbstractContextManager[Session]],
        master: MasterKey,
        ttl_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._scope = session_scope
        self._master = master
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "ContainerKeys(<hidden>)"

    def __call__(self, container: str) -> bytes | None:
        """The key of ``container``'s asset, or None for a clear (or asset-less) container."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(container)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self._scope() as session:
            row = find_container_asset(session, container)
            key = asset_key(self._master, row) if row is not None else None
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[container] = (now + self._ttl, key)
        return key

    def forget(self, container: str) -> None:
        """Drop what is cached about ``container`` (after its asset is made or deleted)."""
        with self._lock:
            self._cache.pop(container, None)
