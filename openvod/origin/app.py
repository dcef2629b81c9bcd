"""The streaming endpoint's ASGI app: dynamic packaging and progressive download.

URLs (as AMS served them)::

    /{locatorId}/{name}.ism/manifest(...)               Smooth, HLS master, DASH MPD
    /{locatorId}/{name}.ism/QualityLevels(b)/...        HLS playlists, segments, fragments
    /{locatorId}/{file}                                  progressive download

Every request resolves the locator through :class:`PublishingResolver` (no
database query while its answer is cached), finds the asset's
:class:`LoadedAsset` in memory, and answers from the response cache or
builds the segment with a couple of preads. Raw ASGI: no framework objects on
the hot path. All errors become statuses through :mod:`openvod.origin.errors`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openvod.context import Context
from openvod.errors import MediaError, NotFoundError
from openvod.httpd.asgi import answer_lifespan
from openvod.media.dash import build_mpd
from openvod.media.hls import build_master_playlist, build_media_playlist
from openvod.media.presentation import find_rendition
from openvod.media.smooth import build_smooth_manifest
from openvod.media.urls import (
    DASH_FORMATS,
    FragmentRequest,
    ManifestRequest,
    PlaylistRequest,
    StreamingRequest,
)
from openvod.origin.assets import AssetCache, AssetLoader, LoadedAsset
from openvod.origin.bodies import (
    ZERO_COPY,
    BytesBody,
    CachedResponse,
    RangedBody,
    in_thread,
    stored_body,
)
from openvod.origin.cache import ByteLruCache
from openvod.origin.delivery import SchemeDelivery
from openvod.origin.download import Downloads
from openvod.origin.encryption import (
    KeyLinks,
    cache_tag,
    encrypted_fragment_body,
    encrypted_manifest,
    token_of,
)
from openvod.origin.publishing import Protocol, PublishingResolver
from openvod.origin.responses import (
    CORS_HEADERS,
    TEXT_PLAIN,
    HeaderList,
    preflight_headers,
    request_headers,
    send_error,
    send_method_not_allowed,
    send_response,
)
from openvod.origin.routes import (
    OriginPath,
    ParsedPath,
    Route,
    RouteTable,
    parse_path,
    protocol_of,
    split_path,
    unfiltered,
)
from openvod.origin.segments import build_fragment_body, reads_source
from openvod.origin.selection import select
from openvod.origin.text_tracks import build_text_body, parse_text_request, with_text_tracks

log = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 128 * 1024 * 1024
# fMP4 fragment plans (box headers + sample ranges: ~1 kB a segment), kept even with the
# response cache off: they are metadata, like the sample index, not response bodies.
PLAN_CACHE_BYTES = 16 * 1024 * 1024
DEFAULT_MANIFEST_MAX_AGE_SECONDS = 2
SEGMENT_CACHE_CONTROL = b"public, max-age=31536000, immutable"
API_PATHS = frozenset(
    {"/subscriptions", "/healthz", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
)
API_PREFIXES = ("/subscriptions/",)
_HLS = b"application/vnd.apple.mpegurl"
_DASH = b"application/dash+xml"
_SMOOTH = b"text/xml; charset=utf-8"
# The request headers that can make an answer other than a 200 with the whole body.
_SELECTING_HEADERS = frozenset(
    {b"range", b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since",
     b"if-range"}
)  # fmt: skip


def strong_etag(version: str, key: str) -> bytes:
    """A strong validator for a response that is a pure function of (asset version, URL)."""
    digest = hashlib.blake2b(f"{version}|{key}".encode(), digest_size=12).hexdigest()
    return f'"{digest}"'.encode()


def build_manifest(asset: LoadedAsset, request: ManifestRequest | PlaylistRequest) -> bytes:
    """The text of a manifest or media playlist (the builders memoise it)."""
    p = asset.presentation
    if isinstance(request, PlaylistRequest):
        rendition = find_rendition(p, request.bitrate, request.track)
        if rendition is None:
            raise NotFoundError("No such rendition.")
        text = build_media_playlist(
            p, rendition, request.format, keyframes=request.keyframes, options=request.options
        )
    elif request.format == "smooth":
        text = build_smooth_manifest(p, request.options)
    elif request.format in DASH_FORMATS:
        text = build_mpd(p, request.format, request.options)  # type: ignore[arg-type]
    else:
        text = build_master_playlist(p, request.format, request.options)  # type: ignore[arg-type]
    return with_text_tracks(text, request, asset.text.tracks).encode("utf-8")


def manifest_type(request: ManifestRequest | PlaylistRequest) -> bytes:
    """The media type of a manifest."""
    if request.format == "smooth":
        return _SMOOTH
    return _DASH if request.format in DASH_FORMATS else _HLS


class OriginApp:
    """The raw ASGI streaming endpoint."""

    def __init__(self, ctx: Context, *, cache_bytes: int | None = None) -> None:
        settings = ctx.settings
        if cache_bytes is None:
            cache_bytes = settings.origin_cache_bytes
        self.store = ctx.store
        self.downloads = Downloads(ctx.store)
        self.publishing = PublishingResolver.for_sessions(ctx.session, master=ctx.master_key)
        self.public_base = settings.resolved_public_url
        self.assets = AssetCache(AssetLoader(ctx.store))
        self.responses: ByteLruCache[tuple[str, str]] = ByteLruCache(cache_bytes)
        self.plans: ByteLruCache[tuple[str, str]] = ByteLruCache(PLAN_CACHE_BYTES)
        self.routes = RouteTable()  # per-URL decisions under the current publications

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await answer_lifespan(receive, send)
            return
        method = scope["method"]
        headers = request_headers(scope)
        if scope["path"] == "/healthz":
            await send_response(send, 200, [(b"content-type", TEXT_PLAIN),
                                            (b"content-length", b"3")], b"ok\n")  # fmt: skip
            return
        if method == "OPTIONS":
            await send_response(send, 204, preflight_headers(headers))
            return
        if method not in ("GET", "HEAD"):
            await send_method_not_allowed(send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._dispatch(scope, headers, tracking_send)
        except Exception as exc:  # every error becomes a status, once
            if started:
                if not isinstance(exc, ConnectionError):  # a client going away is normal
                    log.warning("origin response failed after it started: %r", exc)
                raise
            await send_error(send, exc, head_only=method == "HEAD")

    async def _dispatch(self, scope: Scope, headers: dict[bytes, bytes], send: Send) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
        route = self.routes.get(raw_path)
        if route is None:
            if b".ism/subtitles/" in raw_path.lower():
                await self._send_text(raw_path, scope, headers, send)
                return
            parsed = parse_path(raw_path)
            path, first = parsed.path, parsed.request
            if first is None:
                publication = await self.publishing.resolve(path.locator_id, "download")
                await self.downloads.serve(
                    publication.container, "/".join(path.segments), scope, send,
                    headers=headers, max_age_seconds=publication.max_cache_age_seconds,
                )
                return
            publication = await self.publishing.resolve(path.locator_id, protocol_of(first))
            route = self.routes.make(raw_path, parsed, publication)
        else:
            path = route.parsed.path
            publication = await self.publishing.resolve(path.locator_id, route.protocol)
            if publication is not route.publication:  # reread: decide again
                route = self.routes.make(raw_path, route.parsed, publication)
        request, delivery = route.request, route.delivery
        asset = await self.assets.get(publication.container, path.segments[0][:-4])
        asset = route.served_asset(asset)
        head_only = scope["method"] == "HEAD"
        if delivery is not None:
            await self._send_encrypted(asset, request, route, delivery, scope, headers,
                                       send, publication.max_cache_age_seconds)  # fmt: skip
            return
        if isinstance(request, FragmentRequest):
            zero_copy = ZERO_COPY in scope.get("extensions", ())
            await self._send_fragment(asset, request, route.tail, headers, send, head_only,
                                      zero_copy)  # fmt: skip
            return
        max_age = publication.max_cache_age_seconds
        if max_age is None:
            max_age = DEFAULT_MANIFEST_MAX_AGE_SECONDS
        await self._send_manifest(asset, request, route.canonical, max_age, headers, send,
                                  head_only)  # fmt: skip

    async def _send_text(self, raw_path: bytes, scope: Scope, headers: dict[bytes, bytes],
                         send: Send) -> None:
        """A subtitle playlist, WebVTT segment or whole text track (see text_tracks)."""
        path = split_path(raw_path)
        request = parse_text_request(path.segments)
        if request is None:
            raise NotFoundError("Not a text track URL.")
        protocol: Protocol = "dash" if request.protocol == "dash" else "hls"
        publication = await self.publishing.resolve(path.locator_id, protocol)
        asset = await self.assets.get(publication.container, path.segments[0][:-4])
        key = ("text", request)
        entry = asset.memo.get(key)
        if entry is None:
            body, content_type = build_text_body(asset.text, request,
                                                 asset.presentation.duration_seconds)
            etag = strong_etag(asset.version, "/".join(path.segments))
            entry = CachedResponse(BytesBody(body), content_type, etag)
            asset.memo[key] = entry
        max_age = publication.max_cache_age_seconds
        if max_age is None:
            max_age = DEFAULT_MANIFEST_MAX_AGE_SECONDS
        await _send_entry(send, entry, f"public, max-age={max_age}".encode(), headers,
                          scope["method"] == "HEAD", zero_copy=False)

    async def _send_fragment(
        self,
        asset: LoadedAsset,
        request: FragmentRequest,
        tail: str,
        headers: dict[bytes, bytes],
        send: Send,
        head_only: bool,
        zero_copy: bool,
    ) -> None:
        """A segment from the response cache, a memoised plan, or built now.

        fMP4 fragments of local files are plans (headers + sample ranges the
        server sends from the file); their bodies are never copied into the
        response cache, since the page cache already holds them. Built bodies
        (TS, remote sources) go into the response cache, as memfds when the
        server can send those without a copy.
        """
        key = (asset.version, tail)
        entry = self.responses.get(key) or self.plans.get(key)
        if entry is None:
            try:
                if reads_source(asset, request):
                    built = await in_thread(build_fragment_body, asset, request)
                else:
                    built = build_fragment_body(asset, request)  # from the index: no I/O
            except MediaError as exc:  # e.g. a source file cut short since it was indexed
                raise asset.failed(exc) from None
            body = built.body
            etag = strong_etag(*key)
            cache = self.responses.enabled
            # A plan is sent from its local file; storage-encrypted sources are not local
            # (each send would decrypt again), so the cache keeps them built.
            if isinstance(body, RangedBody) and (
                not cache or (zero_copy and body.few_runs and body.source.is_local)
            ):
                entry = CachedResponse(body, built.content_type, etag)
                self.plans.put(key, entry)
            else:
                if cache:
                    data = (await in_thread(body.materialise) if isinstance(body, RangedBody)
                            else built.data)  # fmt: skip
                    body = stored_body(data) if zero_copy else BytesBody(data)
                entry = CachedResponse(body, built.content_type, etag)
                if cache:
                    self.responses.put(key, entry)
        await _send_entry(send, entry, SEGMENT_CACHE_CONTROL, headers, head_only, zero_copy)

    async def _send_encrypted(
        self,
        asset: LoadedAsset,
        request: StreamingRequest,
        route: Route,
        delivery: SchemeDelivery,
        scope: Scope,
        headers: dict[bytes, bytes],
        send: Send,
        max_age: int | None,
    ) -> None:
        """A manifest or segment under a scheme (see :mod:`openvod.origin.encryption`).

        Segments are cached under their URL plus the scheme and key id; manifests
        are memoised too unless a token is carried into them.
        """
        head_only = scope["method"] == "HEAD"
        zero_copy = ZERO_COPY in scope.get("extensions", ())
        key = (asset.version, route.tail + cache_tag(delivery))
        if isinstance(request, FragmentRequest):
            entry = self.responses.get(key)
            if entry is None:
                try:  # local sources on the loop, as clear TS builds (see reads_source)
                    if reads_source(asset, request):
                        built = await in_thread(encrypted_fragment_body, asset, request, delivery)
                    else:
                        built = encrypted_fragment_body(asset, request, delivery)
                except MediaError as exc:
                    raise asset.failed(exc) from None
                body = built.body
                if zero_copy and self.responses.enabled:  # a memfd the server can sendfile
                    body = stored_body(built.data)
                entry = CachedResponse(body, built.content_type, strong_etag(*key))
                self.responses.put(key, entry)
            await _send_entry(send, entry, SEGMENT_CACHE_CONTROL, headers, head_only, zero_copy)
            return
        token = token_of(scope.get("query_string", b""))
        memo_key = ("manifest-encrypted", route.canonical, cache_tag(delivery))
        entry = None if token else asset.memo.get(memo_key)
        if entry is None:
            try:
                links = KeyLinks(self.public_base, token)
                text = encrypted_manifest(asset, request, delivery, links)
            except MediaError as exc:
                raise asset.failed(exc) from None
            etag = strong_etag(asset.version, f"{memo_key}|{token or ''}")
            entry = CachedResponse(BytesBody(text), manifest_type(request), etag)
            if not token:
                asset.memo[memo_key] = entry
        age = DEFAULT_MANIFEST_MAX_AGE_SECONDS if max_age is None else max_age
        cache_control = f"public, max-age={age}".encode()
        await _send_entry(send, entry, cache_control, headers, head_only, zero_copy=False)

    async def _send_manifest(
        self,
        asset: LoadedAsset,
        request: ManifestRequest | PlaylistRequest,
        canonical: str,
        max_age_seconds: int,
        headers: dict[bytes, bytes],
        send: Send,
        head_only: bool,
    ) -> None:
        """A manifest from the asset's memo (``canonical``: its request formatted back)."""
        memo_key = ("manifest", canonical)
        entry = asset.memo.get(memo_key)
        if entry is None:
            try:
                body = build_manifest(asset, request)
            except MediaError as exc:
                raise asset.failed(exc) from None
            etag = strong_etag(asset.version, canonical)
            entry = CachedResponse(BytesBody(body), manifest_type(request), etag)
            asset.memo[memo_key] = entry
        cache_control = f"public, max-age={max_age_seconds}".encode()
        await _send_entry(send, entry, cache_control, headers, head_only, zero_copy=False)


async def _send_entry(
    send: Send,
    entry: CachedResponse,
    cache_control: bytes,
    headers: dict[bytes, bytes],
    head_only: bool,
    zero_copy: bool,
) -> None:
    """A built body with its validators: 304 when the client has it, 206 for one range.

    Ranges are rare here (players fetch whole segments) but CDNs may split
    large objects; every body sends any range of itself.
    """
    size = entry.body.size
    if _SELECTING_HEADERS.isdisjoint(headers):  # nearly every request: all of it, a 200
        status, start, length = 200, 0, size
        common = _whole_headers(entry, cache_control)
    else:
        chosen = select(headers, etag=entry.etag.decode("latin-1"), last_modified=None,
                        size_bytes=size)  # fmt: skip
        status, start, length = chosen.status, chosen.span.start, chosen.span.length
        if status == 200:
            common = _whole_headers(entry, cache_control)
        else:
            common = _validator_headers(entry, cache_control)
            if status == 304:
                await send_response(send, 304, common)
                return
            common += [(b"content-type", entry.content_type), *chosen.headers(size)]
    if head_only or length == 0:
        await send_response(send, status, common)
        return
    await send({"type": "http.response.start", "status": status, "headers": common})
    await entry.body.send(send, start, length, zero_copy)


def _whole_headers(entry: CachedResponse, cache_control: bytes) -> HeaderList:
    """The headers of a 200 with the whole body: built once per entry and cache-control,
    handed out as a copy (a middleware may add to the list it is given)."""
    found = entry.whole_headers.get(cache_control)
    if found is None:
        found = entry.whole_headers[cache_control] = [
            *_validator_headers(entry, cache_control),
            (b"content-type", entry.content_type),
            (b"content-length", str(entry.body.size).encode()),
        ]
    return found.copy()


def _validator_headers(entry: CachedResponse, cache_control: bytes) -> HeaderList:
    return [
        *CORS_HEADERS,
        (b"accept-ranges", b"bytes"),
        (b"etag", entry.etag),
        (b"cache-control", cache_control),
    ]


def create_origin_app(ctx: Context, *, cache_bytes: int | None = None) -> OriginApp:
    """The streaming endpoint over a context.

    ``cache_bytes`` (default: setting ``origin_cache_bytes``, else 128 MiB)
    bounds the in-memory cache of built segments; 0 turns it off.
    """
    return OriginApp(ctx, cache_bytes=cache_bytes)


def is_api_path(path: str, prefixes: Iterable[str] = API_PREFIXES) -> bool:
    """Whether a path belongs to the management API rather than the origin."""
    return path in API_PATHS or path.lower().startswith(tuple(prefixes))


class RootApp:
    """One listener for both apps: ARM paths, /healthz and the docs go to the API, the rest
    to the origin. Lifespan and websocket events go to the API."""

    def __init__(self, api_app: ASGIApp, origin_app: ASGIApp) -> None:
        self.api = api_app
        self.origin = origin_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_api_path(scope["path"]):
            await self.origin(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def create_root_app(api_app: ASGIApp, origin_app: ASGIApp) -> RootApp:
    """The dispatcher that serves the management API and the origin on one port."""
    return RootApp(api_app, origin_app)


__all__ = [
    "OriginApp",
    "OriginPath",
    "ParsedPath",
    "RootApp",
    "create_origin_app",
    "create_root_app",
    "is_api_path",
    "parse_path",
    "protocol_of",
    "split_path",
    "unfiltered",
]
