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

An asset that cannot be streamed (unknown name, a ``.ism`` naming a missing
file, a truncated or garbage MP4, tracks that do not match) is remembered as
an :class:`AssetFailure`, a plain value revalidated like a loaded asset: it is
logged once per version of the container's files, and each request raises a
fresh, short exception from it, so a broken asset costs no more than a good one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import anyio.to_thread

from openvod.errors import MediaError, NotFoundError, OpenvodError, StorageError
from openvod.media.index import load_movie
from openvod.media.ism import parse_ism
from openvod.media.presentation import (
    Presentation,
    StreamSource,
    build_presentation,
    derive_sources,
)
from openvod.media.track import Movie
from openvod.origin.cache import SingleFlight
from openvod.origin.errors import BrokenAssetError, MissingAssetFileError
from openvod.origin.sources import SourceFile
from openvod.storage.movie_files import SIDECAR_SUFFIX, read_movie
from openvod.storage.store import BlobInfo, BlobStore

log = logging.getLogger(__name__)

DEFAULT_MAX_ASSETS = 64
DEFAULT_REVALIDATE_SECONDS = 2.0
ISM_SUFFIX = ".ism"
MP4_SUFFIX = ".mp4"
_MEDIA_SUFFIXES = (MP4_SUFFIX, MP4_SUFFIX + SIDECAR_SUFFIX)
# Failures remembered at once (unknown names included: a client may invent them).
MAX_FAILURES = 1024

ListingKey = tuple[tuple[str, str], ...]

@dataclass(eq=False)
class LoadedAsset:
    """A presentation with its open source files and per-asset memo caches."""

    container: str
    presentation: Presentation
    files: dict[str, SourceFile]
    version: str  # digest of the etags it was built from: part of every cache key
    listing_key: ListingKey
    checked_at: float = field(default_factory=time.monotonic)
    memo: dict[Hashable, Any] = field(default_factory=dict)  # manifests, init segments

    def __post_init__(self) -> None:
        self.all_local = all(f.is_local for f in self.files.values())
        """True when every source file is local: segments may be built on the event loop."""

    def failed(self, exc: MediaError) -> BrokenAssetError:
        """The error to answer for media found broken while serving this asset version
        (logged once per version, however many requests hit it)."""
        if isinstance(exc, BrokenAssetError):
            return exc
        if ("failed",) not in self.memo:
            self.memo[("failed",)] = True
            log.warning("cannot stream %s from container %s: %s",
                        self.presentation.name, self.container, exc.message)  # fmt: skip
        return BrokenAssetError(exc.message)


def sources_from_ism(text: bytes) -> list[StreamSource]:
    """The audio and video entries of a ``.ism`` as stream sources."""
    manifest = parse_ism(text)
    return [
        StreamSource(
            t.src, t.kind, t.track_id, t.system_bitrate, t.track_name or "",
            t.language or "", t.title or "",
        )
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


def listing_key_of(blobs: Sequence[BlobInfo]) -> ListingKey:
    """What a presentation was built from: its blobs' names and etags."""
    return tuple(sorted((b.name, b.etag) for b in blobs))


def _not_mp4(name: str, exc: Exception) -> BrokenAssetError:
    """The error of a file whose index or moov cannot be read (no Python message in it)."""
    if isinstance(exc, OpenvodError):
        return BrokenAssetError(f"{name}: {exc.message}", file=name)
    return BrokenAssetError(f"{name} is not a readable MP4 ({type(exc).__name__})", file=name)


class AssetLoader:
    """Builds :class:`LoadedAsset` objects from a blob store (blocking: run on a thread).

    Raises NotFoundError for a name the container has no manifest or MP4 for,
    MissingAssetFileError when the ``.ism`` lists a file that is not there,
    BrokenAssetError for anything stored that cannot be packaged, and
    StorageError when the store fails.
    """

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
            try:
                sources = sources_from_ism(text)
            except MediaError as exc:
                raise BrokenAssetError(f"{ism.name}: {exc.message}", file=ism.name) from None
            presentation = self._build(container, name, sources, by_name, ism.name)
        else:
            presentation = self._derive(container, name, by_name)
        files = {f: SourceFile(self.store, container, f) for f in presentation.movies}
        key = listing_key_of(blobs)
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
        except MediaError as exc:
            if len(movies) == 1:
                raise BrokenAssetError(exc.message, file=own.name) from None
            log.info("MP4s of %s are not one presentation; streaming %s alone", container, own.name)
        only = {own.name: movies[own.name]}
        try:
            return build_presentation(name, derive_sources(only), only)
        except MediaError as exc:
            raise BrokenAssetError(exc.message, file=own.name) from None

    def _build(
        self,
        container: str,
        name: str,
        sources: list[StreamSource],
        blobs: dict[str, BlobInfo],
        ism_name: str,
    ) -> Presentation:
        movies: dict[str, Movie] = {}
        for source in sources:
            info = blobs.get(source.file_name)
            if info is None:
                raise MissingAssetFileError(
                    f"{ism_name} lists {source.file_name!r}, which is not in the asset",
                    file=source.file_name,
                )
            if source.file_name not in movies:
                movies[source.file_name] = self._movie(container, info, blobs)
        try:
            return build_presentation(name, sources, movies)
        except MediaError as exc:
            raise BrokenAssetError(f"{ism_name}: {exc.message}", file=ism_name) from None

    def _movie(self, container: str, info: BlobInfo, blobs: dict[str, BlobInfo]) -> Movie:
        """The MP4's index: its sidecar when present and current, else parsed from the file."""
        sidecar = blobs.get(info.name + SIDECAR_SUFFIX)
        if sidecar is not None:
            data = self.store.read_range(container, sidecar.name, 0, sidecar.size_bytes)
            try:
                movie = load_movie(data)
            except MediaError as exc:
                log.warning("ignoring sidecar %s/%s: %s", container, sidecar.name, exc.message)
            else:
                if movie.file_size_bytes == info.size_bytes:
                    return movie
                log.warning("ignoring stale sidecar %s/%s", container, sidecar.name)

        def read(offset: int, size: int) -> bytes:
            return self.store.read_range(container, info.name, offset, size)

        try:
            return read_movie(read, info.size_bytes)
        except StorageError:
            raise
        except Exception as exc:  # garbage bytes may trip any check of the parser
            raise _not_mp4(info.name, exc) from None


FailureKind = Literal["not_found", "missing_file", "broken", "storage"]


@dataclass(frozen=True)
class AssetFailure:
    """Why a (container, manifest name) cannot be streamed: a plain value, never an exception
    object kept around (re-raising one appends frames to its traceback on every request)."""

    kind: FailureKind
    reason: str
    file: str | None
    listing_key: ListingKey | None  # the files it was found in (None: no listing)
    checked_at: float = field(default_factory=time.monotonic)

    @classmethod
    def of(cls, exc: Exception, listing_key: ListingKey | None) -> AssetFailure:
        """The failure an exception of the loader stands for."""
        file = getattr(exc, "file", None)
        if isinstance(exc, MissingAssetFileError):
            return cls("missing_file", exc.message, file, listing_key)
        if isinstance(exc, NotFoundError):
            return cls("not_found", exc.message, None, listing_key)
        if isinstance(exc, StorageError):
            return cls("storage", exc.message, None, listing_key)
        if isinstance(exc, OpenvodError):
            return cls("broken", exc.message, file, listing_key)
        return cls("broken", f"cannot be packaged ({type(exc).__name__})", None, listing_key)

    @property
    def worth_logging(self) -> bool:
        """Whether the operator should hear of it (not for names nobody stored)."""
        return self.kind in ("missing_file", "broken")

    def error(self) -> OpenvodError:
        """A fresh exception for one request."""
        if self.kind == "not_found":
            return NotFoundError(self.reason)
        if self.kind == "missing_file":
            return MissingAssetFileError(self.reason, file=self.file)
        if self.kind == "storage":
            return StorageError(self.reason)
        return BrokenAssetError(self.reason, file=self.file)


class AssetCache:
    """LRU of loaded assets by (container, manifest name), revalidated by etags.

    Failures are kept beside them (at most :data:`MAX_FAILURES`) and revalidated the
    same way: a failure is only re-tried, and logged, when the container's files change.
    """

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
        self._failures: OrderedDict[tuple[str, str], AssetFailure] = OrderedDict()
        self._flights: SingleFlight[tuple[str, str], LoadedAsset | AssetFailure] = SingleFlight()
        self._run_sync = run_sync or anyio.to_thread.run_sync

    def _fresh(self, checked_at: float) -> bool:
        return time.monotonic() - checked_at < self.revalidate_seconds

    async def get(self, container: str, name: str) -> LoadedAsset:
        """The loaded asset (from memory when fresh); raises a fresh error for a failure."""
        key = (container, name)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            if self._fresh(entry.checked_at):
                return entry
        failure = self._failures.get(key)
        if failure is not None and self._fresh(failure.checked_at):
            raise failure.error()
        result = await self._flights.run(key, lambda: self._refresh(key, entry, failure))
        if isinstance(result, AssetFailure):
            raise result.error()
        return result

    async def _refresh(
        self, key: tuple[str, str], entry: LoadedAsset | None, failure: AssetFailure | None
    ) -> LoadedAsset | AssetFailure:
        """Relist the container; reload only when the etags changed."""
        container, name = key
        try:
            blobs = await self._run_sync(self.loader.listing, container, name)
        except Exception as exc:
            return self._failed(key, AssetFailure.of(exc, None))
        listing_key = listing_key_of(blobs)
        if entry is not None and entry.listing_key == listing_key:
            entry.checked_at = time.monotonic()
            return entry
        if failure is not None and failure.listing_key == listing_key:
            return self._failed(key, replace(failure, checked_at=time.monotonic()))
        try:
            fresh: LoadedAsset = await self._run_sync(self.loader.load, container, name, blobs)
        except Exception as exc:
            found = AssetFailure.of(exc, listing_key)
            if found.worth_logging:
                log.warning("cannot stream %s.ism from container %s (file %s): %s",
                            name, container, found.file or "-", found.reason)  # fmt: skip
            return self._failed(key, found)
        self._failures.pop(key, None)
        self._entries[key] = fresh
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_assets:
            self._entries.popitem(last=False)
        return fresh

    def _failed(self, key: tuple[str, str], failure: AssetFailure) -> AssetFailure:
        self._entries.pop(key, None)
        self._failures.pop(key, None)
        self._failures[key] = failure
        while len(self._failures) > MAX_FAILURES:
            self._failures.popitem(last=False)
        return failure

    def clear(self) -> None:
        """Forget every loaded asset and failure."""
        self._entries.clear()
        self._failures.clear()
