"""ARM paths are case-insensitive: canonicalise the keyword segments before routing."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from openvod.api.errors import arm_error

_KEYWORDS = [
    "subscriptions", "resourceGroups", "providers", "Microsoft.Media", "mediaservices",
    "assets", "transforms", "jobs", "streamingPolicies", "streamingLocators",
    "streamingEndpoints", "streamingEndpointOperations", "operationLocations",
    "contentKeyPolicies", "listContainerSas", "listStreamingLocators", "listPaths",
    "listContentKeys", "cancelJob", "start", "stop", "scale", "getEncryptionKey",
    "getPolicyPropertiesWithSecrets", "search", "tracks", "updateTrackData", "operationStatuses",
    "accountFilters", "assetFilters",
]
CANONICAL = {k.lower(): k for k in _KEYWORDS}


def canonical_path(path: str) -> str:
    """Rewrite keyword segments (even positions, and the provider namespace) to one spelling.

    ARM paths alternate keyword/value; only keywords are rewritten, so resource
    names keep the case the client gave.
    """
    if not path.lower().startswith("/subscriptions/"):
        return path
    segments = path.split("/")
    # segments[0] is '' (leading slash); keyword i sits at index 1 + 2k, plus index 6.
    for index in range(1, len(segments)):
        if (index % 2 == 1 or index == 6) and segments[index].lower() in CANONICAL:
            segments[index] = CANONICAL[segments[index].lower()]
    return "/".join(segments)


def decoded_path(scope: Scope) -> tuple[str | None, str | None]:
    """(the ARM path decoded as UTF-8, None) or (None, why it is refused).

    The path is decoded here from ``raw_path``, strictly: a name whose bytes
    are not UTF-8 (``x%FF``) is refused rather than read with U+FFFD, which
    would make ``x%FF`` and ``x%FE`` one name. Names can never hold '/' (even
    encoded) or be '.'/'..'. Paths outside ``/subscriptions/`` are left alone.
    """
    raw = scope.get("raw_path") or scope["path"].encode()
    text = raw.decode("latin-1").split("?", 1)[0]
    if not text.lower().startswith("/subscriptions/"):
        return scope["path"], None
    if "%2f" in text.lower() or "%5c" in text.lower():
        return None, "Resource names may not contain '/' or '\\'."
    try:
        segments = [unquote_to_bytes(s).decode("utf-8") for s in text.split("/")]
    except UnicodeDecodeError:
        return None, "Resource names must be UTF-8 text: the path has bytes that are not."
    if any(s in (".", "..") for s in segments):
        return None, "Resource names may not be '.' or '..'."
    if any(ord(c) < 32 or c == "\x7f" for s in segments for c in s):
        return None, "Resource names may not contain control characters."
    return "/".join(segments), None


class CanonicalPathMiddleware:
    """ASGI middleware: the path decoded strictly (:func:`decoded_path`), then canonical."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            decoded, problem = decoded_path(scope)
            if decoded is None:
                response = arm_error(400, "BadRequest", problem or "The path is not valid.")
                await response(scope, receive, send)
                return
            path = canonical_path(decoded)
            if path != scope["path"]:
                scope = dict(scope, path=path)
        await self.app(scope, receive, send)
