"""Streaming URLs parsed, and what each decides under a publication, worked out once.

A player asks for the same URLs over and over, and while a locator's
:class:`~openvod.origin.publishing.Publication` stays the same (it is reread
once a second) every request of one URL makes the same choices: the path
parsed, the filters it applies, the scheme it is served with, and, per loaded
asset, the filtered asset and whether the format carries its codecs. A
:class:`Route` holds those choices; :class:`RouteTable` keeps routes by raw
path and remakes one when its publication or asset is a new object. Refusals
are never kept: a URL that fails a check fails it again on every request.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from urllib.parse import unquote_to_bytes

from openvod.errors import NotFoundError
from openvod.media.filters import ManifestFilter
from openvod.media.urls import (
    DASH_FORMATS,
    FragmentRequest,
    StreamingRequest,
    format_streaming_path,
    parse_streaming_path,
)
from openvod.origin.assets import LoadedAsset
from openvod.origin.codec_rules import check_format_carries
from openvod.origin.delivery import SchemeDelivery, choose_delivery
from openvod.origin.errors import MalformedUrlError
from openvod.origin.filters import chosen_filters, filtered_asset
from openvod.origin.publishing import Protocol, Publication, parse_locator_id
from openvod.origin.segments import check_segment_extension

PARSED_PATHS_CACHED = 4096
ROUTES_KEPT = 4096


@dataclass(frozen=True)
class OriginPath:
    """A request path split at the locator: ``streaming`` names ``{name}.ism/{tail}``."""

    locator_id: str
    segments: tuple[str, ...]  # percent-decoded, after the locator

    @property
    def is_streaming(self) -> bool:
        """True for ``{name}.ism/...`` (with something after the .ism)."""
        return len(self.segments) >= 2 and self.segments[0].lower().endswith(".ism")


def split_path(raw_path: bytes) -> OriginPath:
    """Validate and decode a raw request path; NotFoundError for anything unsafe or foreign.

    Refused: encoded slashes or backslashes (``%2F``, ``%5C``), empty, '.'
    and '..' segments (also percent-encoded), bytes that are not UTF-8, and a
    first segment that is not a locator GUID.
    """
    lowered = raw_path.lower()
    if b"%2f" in lowered or b"%5c" in lowered or b"\\" in raw_path:
        raise NotFoundError("Encoded slashes are not allowed.")
    parts = raw_path.split(b"/")
    if len(parts) < 3 or parts[0] != b"":
        raise NotFoundError("Not a streaming URL.")
    try:
        segments = [unquote_to_bytes(p).decode("utf-8") for p in parts[1:]]
    except UnicodeDecodeError:
        raise NotFoundError("Not a streaming URL.") from None
    if any(s in ("", ".", "..") for s in segments):
        raise NotFoundError("Not a streaming URL.")
    locator_id = parse_locator_id(segments[0])
    if locator_id is None:
        raise NotFoundError("Unknown streaming locator.")
    return OriginPath(locator_id, tuple(segments[1:]))


@dataclass(frozen=True)
class ParsedPath:
    """A request path checked and parsed: the locator, and the streaming request if any."""

    path: OriginPath
    tail: str  # after '{name}.ism/' ('' for downloads)
    request: StreamingRequest | None  # None for progressive download


@functools.lru_cache(maxsize=PARSED_PATHS_CACHED)
def parse_path(raw_path: bytes) -> ParsedPath:
    """Check and parse a raw request path (memoised: players request the same URLs).

    Raises NotFoundError for unsafe paths and MalformedUrlError for streaming
    URLs that do not parse; errors are not memoised.
    """
    path = split_path(raw_path)
    if not path.is_streaming:
        return ParsedPath(path, "", None)
    tail = "/".join(path.segments[1:])
    try:
        request = parse_streaming_path(tail)
    except ValueError as exc:
        raise MalformedUrlError(str(exc)) from exc
    return ParsedPath(path, tail, request)


def protocol_of(request: StreamingRequest) -> Protocol:
    """The policy protocol a streaming request needs."""
    fmt = request.format
    if fmt == "smooth":
        return "smoothStreaming"
    return "dash" if fmt in DASH_FORMATS else "hls"


def unfiltered(request: FragmentRequest) -> FragmentRequest:
    """A fragment request without its ``filter=`` modifier (filters never change segments)
    and in the AMS form, without the file extension (the same bytes either way), so both
    spellings of a segment URL share one response-cache entry and one ETag."""
    return replace(request, options=replace(request.options, filters=()), extension="")


class Route:
    """What one streaming URL decides under one publication.

    ``request`` and ``tail`` are what is served: a fragment's without its
    ``filter=`` modifier and file extension (the same bytes, cached once; the
    extension is checked against the rendition in :meth:`served_asset`). Making a route runs the
    publication's checks of the URL (unknown filter names, a scheme the format
    cannot carry), raising as a request would.
    """

    __slots__ = ("parsed", "publication", "protocol", "request", "tail", "chosen", "delivery",
                 "_asset", "_served", "_canonical")  # fmt: skip

    def __init__(self, parsed: ParsedPath, publication: Publication) -> None:
        request = parsed.request
        assert request is not None, "downloads have no route"
        self.parsed = parsed
        self.publication = publication
        self.protocol = protocol_of(request)
        self.chosen: tuple[ManifestFilter, ...] = chosen_filters(
            publication.filters, publication.locator_filters, request.options.filters
        )
        tail = parsed.tail
        if isinstance(request, FragmentRequest) and (request.options.filters or request.extension):
            request = unfiltered(request)  # the same bytes: served and cached as unfiltered
            tail = format_streaming_path(request)
        self.request: StreamingRequest = request
        self.tail = tail
        self.delivery: SchemeDelivery | None = choose_delivery(
            publication.deliveries, publication.clear_protocols, self.protocol, request.format,
            request.options.encryption,
        )  # fmt: skip
        self._asset: LoadedAsset | None = None
        self._served: LoadedAsset | None = None
        self._canonical: str | None = None

    @property
    def canonical(self) -> str:
        """The served request's canonical path (a manifest's memo key), formatted once."""
        if self._canonical is None:
            self._canonical = format_streaming_path(self.request)
        return self._canonical

    def served_asset(self, asset: LoadedAsset) -> LoadedAsset:
        """The asset this URL is answered from: filtered for manifests, and checked to carry
        the format's codecs (FormatNotCarriedError); the same for the same ``asset``."""
        if asset is self._asset and self._served is not None:
            return self._served
        asked = self.parsed.request
        if isinstance(asked, FragmentRequest):
            check_segment_extension(asset.presentation, asked)  # served without it
        served = asset if isinstance(self.request, FragmentRequest) else (
            filtered_asset(asset, self.chosen))  # fmt: skip
        check_format_carries(served.presentation, self.request.format)
        self._asset, self._served = asset, served
        return served


class RouteTable:
    """Routes by raw path, each for the publication it was made under."""

    def __init__(self, max_routes: int = ROUTES_KEPT) -> None:
        self.max_routes = max_routes
        self._routes: dict[bytes, Route] = {}

    def get(self, raw_path: bytes) -> Route | None:
        """The route last made for ``raw_path`` (its publication may be stale: compare)."""
        return self._routes.get(raw_path)

    def make(self, raw_path: bytes, parsed: ParsedPath, publication: Publication) -> Route:
        """A route for ``parsed`` under ``publication``, kept for the next request."""
        route = Route(parsed, publication)
        routes = self._routes
        if len(routes) >= self.max_routes and raw_path not in routes:
            routes.clear()  # forget all at once: cheaper than an LRU on every hit
        routes[raw_path] = route
        return route

    def clear(self) -> None:
        """Forget every route."""
        self._routes.clear()
