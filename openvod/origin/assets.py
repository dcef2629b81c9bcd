"""Loading what the origin streams for ``/{locator}/{name}.ism/...``, once, then from memory.

For a (container, manifest name) the loader lists the container, reads the
``{name}.ism`` server manifest (or derives the sources from the MP4s when
there is none), loads each MP4's ``.ovi`` sidecar index (or, without one,
parses its 'moov' with a few range reads) and builds the
:class:`~openvod.media.presentation.Presentation`. The result is kept in an
LRU keyed by container and manifest name, and revalidated against the
container's etags every ``revalidate_seconds``: a replaced file yields a new
:class:`LoadedAsset` with a new ``version``, so every URL-derived cache key
changes with it.

Source files stay open (one descriptor each) while their asset is cached, so
a segment costs a couple of ``os.pread`` calls and no ``open``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from openvod.errors import MediaError, NotFoundError, OpenvodError
from openvod.media.index import load_movie
from openvod.media.ism import parse_ism
from openvod.media.presentation import (
    Presentation,
    StreamSource,
    build_presentation,
    derive_sources,
)
from openvod.media.track import Movie
from openvod.origin.cache import SingleFlight, TtlCache
from openvod.origin.descriptor import OwnedDescriptor
from openvod.storage.movie_files import SIDECAR_SUFFIX, read_movie
from openvod.storage.store import BlobInfo, BlobStore

log = logging.getLogger(__name__)

DEFAULT_MAX_ASSETS = 64
DEFAULT_REVALIDATE_SECONDS = 2.0
ISM_SUFFIX = ".ism"
MP4_SUFFIX = ".mp4"
_MEDIA_SUFFIXES = (MP4_SUFFIX, MP4_SUFFIX + SIDECAR_SUFFIX)

# One read covers a segment's ranges when the span is at most twice the data plus this...
GAP_ALLOWANCE_BYTES = 64 * 1024
# ...and at most this long (bounds the memory of one request).
MAX_SPAN_BYTES = 32 * 1024 * 1024


class SourceFile(OwnedDescriptor):
    """One MP4 of an asset, open for positional reads.

    Local files are read with ``os.pread`` on a descriptor opened once;
    other stores go through ``read_range`` (a network call: never on the
    event loop, see :attr:`is_local`).
    """

    def __init__(self, store: BlobStore, container: str, name: str) -> None:
        self.name = name
        self._store = store
        self._container = container
        path = store.local_path(container, name)
        self._fd = os.open(path, os.O_RDONLY) if path is not None else None

    @property
    def is_local(self) -> bool:
        """True when reads are quick page-cache preads that may run on the event loop."""
        return self._fd is not None

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` (MediaError if the file is shorter)."""
        if self._fd is not None:
            data = os.pread(self._fd, size, offset)
        else:
            data = self._store.read_range(self._container, self.name, offset, size)
        if len(data) != size:
            raise MediaError(f"{self.name!r} is shorter than its index says")
        return data


def read_ranges(source: SourceFile, reads: Sequence[tuple[int, int]]) -> list[bytes | memoryview]:
    """The bytes of ``reads`` (ascending ``(offset, size)``), as few preads as sensible.

    In an interleaved MP4 one track's samples of a segment are many small
    ranges separated by the other track's samples. When the gaps are small
    next to the data, one read of the whole span plus slices beats a read
    per range; otherwise each range is read on its own.
    """
    if len(reads) == 1:
        return [source.read(*reads[0])]
    start = reads[0][0]
    span = reads[-1][0] + reads[-1][1] - start
    wanted = sum(size for _, size in reads)
    ascending = all(a[0] + a[1] <= b[0] for a, b in zip(reads, reads[1:], strict=False))
    if not ascending or span > MAX_SPAN_BYTES or span > 2 * wanted + GAP_ALLOWANCE_BYTES:
        return [source.read(offset, size) for offset, size in reads]
    buffer = memoryview(source.read(start, span))
    return [buffer[offset - start : offset - start + size] for offset, size in reads]



@dataclass(eq=False)
class LoadedAsset:
    """A presentation with its open source files and per-asset memo caches."""

    container: str
    presentation: Presentation
    files: dict[str, SourceFile]
    version: str  # digest of the etags it was built from: part of every cache key
    listing_key: tuple[tuple[str, str], ...]
    checked_at: float = field(default_factory=time.monotonic)
    memo: dict[Hashable, Any] = field(default_factory=dict)  # manifests, init segments

    def __post_init__(self) -> None:
        self.all_local = all(f.is_local for f in self.files.values())
        """True when every source file is local: segments may be built on the event loop."""


def sources_from_ism(text: bytes) -> list[StreamSource]:
    """The audio and video entries of a ``.ism`` as stream sources."""
    manifest = parse_ism(text)
    return [
        StreamSource(t.src, t.kind, t.track_id, t.system_bitrate, t.track_name or "")
        for t in manifest.tracks
        if t.kind in ("video", "audio")
    ]


def relevant_blobs(blobs: Sequence[BlobInfo], name: str) -> list[BlobInfo]:
    """The blobs a presentation of ``name`` can depend on: its .ism, MP4s and sidecars."""
    ism = (name + ISM_SUFFIX).lower()
    return [
        b
        for b in blobs
        if "/" not in b.name
        and (b.name.lower() == ism or b.name.lower().endswith(_MEDIA_SUFFIXES))
    ]


def _find(blobs: dict[str, BlobInfo], name: str) -> BlobInfo | None:
    """A blob by exact name, else case-insensitively (AMS names are case-insensitive)."""
    found = blobs.get(name)
    if found is not None:
        return found
    lowered = name.lower()
    return next((b for n, b in blobs.items() if n.lower() == lowered), None)


class AssetLoader:
    """Builds :class:`LoadedAsset` objects from a blob store (blocking: run on a thread)."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def listing(self, container: str, name: str) -> list[BlobInfo]:
        """The relevant blobs of a container (NotFoundError if it does not exist)."""
        return relevant_blobs(self.store.list_blobs(container), name)

    def load(self, container: str, name: str, blobs: list[BlobInfo]) -> LoadedAsset:
        """Read the manifest and indexes and build the presentation of ``name``."""
        by_name = {b.name: b for b in blobs}
        ism = _find(by_name, name + ISM_SUFFIX)
        if ism is not None:
            text = self.store.read_range(container, ism.name, 0, ism.size_bytes)
            sources = sources_from_ism(text)
            presentation = self._build(container, name, sources, by_name)
        else:
            presentation = self._derive(container, name, by_name)
        files = {f: SourceFile(self.store, container, f) for f in presentation.movies}
        key = tuple(sorted((b.name, b.etag) for b in blobs))
        version = hashlib.blake2b(repr((container, name, key)).encode(), digest_size=12)
        return LoadedAsset(container, presentation, files, version.hexdigest(), key)

    def _derive(self, container: str, name: str, blobs: dict[str, BlobInfo]) -> Presentation:
        """Without a .ism: every MP4 of the asset, else only ``{name}.mp4``."""
        own = _find(blobs, name + MP4_SUFFIX)
        if own is None:
            raise NotFoundError(f"No manifest named {name!r}.")
        every = sorted(n for n in blobs if n.lower().endswith(MP4_SUFFIX))
        movies = {n: self._movie(container, blobs[n], blobs) for n in every}
        try:
            return build_presentation(name, derive_sources(movies), movies)
        except MediaError:
            if len(movies) == 1:
                raise
            log.info("MP4s of %s are not one presentation; streaming %s alone", container, own.name)
            only = {own.name: movies[own.name]}
            return build_presentation(name, derive_sources(only), only)

    def _build(
        self,
        container: str,
        name: str,
        sources: list[StreamSource],
        blobs: dict[str, BlobInfo],
    ) -> Presentation:
        movies: dict[str, Movie] = {}
        for source in sources:
            info = blobs.get(source.file_name)
            if info is None:
                raise MediaError(f"the .ism lists {source.file_name!r}, which is not in the asset")
            if source.file_name not in movies:
                movies[source.file_name] = self._movie(container, info, blobs)
        return build_presentation(name, sources, movies)

    def _movie(self, container: str, info: BlobInfo, blobs: dict[str, BlobInfo]) -> Movie:
        """The MP4's index: its sidecar when present and current, else parsed from the file."""
        sidecar = blobs.get(info.name + SIDECAR_SUFFIX)
        if sidecar is not None:
            data = self.store.read_range(container, sidecar.name, 0, sidecar.size_bytes)
            try:
                movie = load_movie(data)
            except MediaError as exc:
                log.warning("ignoring sidecar %s/%s: %s", container, sidecar.name, exc)
            else:
                if movie.file_size_bytes == info.size_bytes:
                    return movie
                log.warning("ignoring stale sidecar %s/%s", container, sidecar.name)

        def read(offset: int, size: int) -> bytes:
            return self.store.read_range(container, info.name, offset, size)

        return read_movie(read, info.size_bytes)


class AssetCache:
    """LRU of loaded assets by (container, manifest name), revalidated by etags."""

    def __init__(
        self,
        loader: AssetLoader,
        *,
        max_assets: int = DEFAULT_MAX_ASSETS,
        revalidate_seconds: float = DEFAULT_REVALIDATE_SECONDS,
        run_sync: Callable[..., Any] | None = None,
    ) -> None:
        self.loader = loader
        self.max_assets = max_assets
        self.revalidate_seconds = revalidate_seconds
        self._entries: OrderedDict[tuple[str, str], LoadedAsset] = OrderedDict()
        self._flights: SingleFlight[tuple[str, str], LoadedAsset] = SingleFlight()
        # Failed loads (unknown name, unusable media) are remembered as long as a listing,
        # so that requests for them do not list and parse the container every time.
        self._failures: TtlCache[tuple[str, str], OpenvodError] = TtlCache(revalidate_seconds)
        self._run_sync = run_sync or anyio.to_thread.run_sync

    async def get(self, container: str, name: str) -> LoadedAsset:
        """The loaded asset (from memory when fresh), NotFoundError if there is none."""
        key = (container, name)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            if time.monotonic() - entry.checked_at < self.revalidate_seconds:
                return entry
        failure = self._failures.get(key)
        if failure is not None:
            raise failure
        return await self._flights.run(key, lambda: self._refresh(key, entry))

    async def _refresh(self, key: tuple[str, str], entry: LoadedAsset | None) -> LoadedAsset:
        """Relist the container; reload only when the etags changed."""
        container, name = key
        try:
            blobs = await self._run_sync(self.loader.listing, container, name)
            listing_key = tuple(sorted((b.name, b.etag) for b in blobs))
            if entry is not None and entry.listing_key == listing_key:
                entry.checked_at = time.monotonic()
                return entry
            fresh: LoadedAsset = await self._run_sync(self.loader.load, container, name, blobs)
        except OpenvodError as exc:
            self._entries.pop(key, None)
            self._failures.put(key, exc)
            raise
        self._entries[key] = fresh
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_assets:
            self._entries.popitem(last=False)
        return fresh

    def clear(self) -> None:
        """Forget every loaded asset."""
        self._entries.clear()
        self._failures.clear()
