"""Blob storage: the store interface, local and in-memory stores, names and SAS."""

from openvod.storage.local import LocalBlobStore
from openvod.storage.memory import MemoryBlobStore
from openvod.storage.store import DEFAULT_CONTENT_TYPE, BlobInfo, BlobStore

__all__ = ["DEFAULT_CONTENT_TYPE", "BlobInfo", "BlobStore", "LocalBlobStore", "MemoryBlobStore"]
