"""The key delivery ASGI app: ``/keydelivery/hls/{kid}`` and ``/keydelivery/clearkey``.

``GET /keydelivery/hls/{kid}`` answers the 16 raw bytes of the key (HLS AES-128 and
SAMPLE-AES ``#EXT-X-KEY`` URIs point here). ``POST /keydelivery/clearkey`` answers a W3C
ClearKey license (EME JSON request in, JWK set out) for the key ids the request's token
or an open policy allows. CORS is open: players fetch keys from pages on other origins.
Refusals are short plain text, never key bytes: 400 malformed, 401 no or invalid
token, 403 a token (or policy) that does not allow the key, 404 unknown key. Nothing
here logs a key, an IV or a token.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Sequence

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from openvod import errors
from openvod.clock import utcnow
from openvod.context import Context
from openvod.keydelivery.requests import (
    b64url_encode,
    license_type,
    parse_kid,
    parse_license_request,
    request_token,
)
from openvod.keys.content_keys import ContentKey
from openvod.keys.urls import CLEARKEY_PATH, HLS_KEY_PATH, KEY_DELIVERY_PREFIX
from openvod.services.key_delivery import deliver_keys

log = logging.getLogger(__name__)

HeaderList = list[tuple[bytes, bytes]]
MAX_BODY_BYTES = 64 * 1024
METHODS = b"GET, POST, OPTIONS"
_PREFIX = KEY_DELIVERY_PREFIX + "/"
CORS: HeaderList = [(b"access-control-allow-origin", b"*")]
NO_STORE: HeaderList = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
# The ONE table of statuses of key delivery (first match wins).
STATUS_BY_ERROR: tuple[tuple[type[BaseException], int], ...] = (
    (errors.AuthenticationError, 401),
    (errors.AuthorizationError, 403),
    (errors.NotFoundError, 404),
    (errors.InvalidRequestError, 400),
)


class BodyTooLargeError(errors.InvalidRequestError):
    """A license request larger than :data:`MAX_BODY_BYTES`."""


def status_for(exc: BaseException) -> int:
    """The HTTP status of a refusal (500 for anything unexpected)."""
    return next((status for kind, status in STATUS_BY_ERROR if isinstance(exc, kind)), 500)


async def _send(send: Send, status: int, headers: HeaderList, body: bytes) -> None:
    headers = [*CORS, *NO_STORE, *headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_refusal(send: Send, exc: BaseException) -> None:
    """A plain-text refusal; its message names no key and no token."""
    status = status_for(exc)
    if status == 500:
        log.error("key delivery failed: %s", type(exc).__name__)
    text = str(exc) if status != 500 else "Internal error."
    extra: HeaderList = [(b"www-authenticate", b"Bearer")] if status == 401 else []
    await _send(send, status, [(b"content-type", b"text/plain; charset=utf-8"), *extra],
                (text + "\n").encode("utf-8"))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise errors.InvalidRequestError("The client went away.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLargeError("The license request is too large.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def license_document(keys: Sequence[ContentKey], session_type: str) -> bytes:
    """The W3C ClearKey license: a JWK set of the keys, octet keys in base64url."""
    jwks = [{"kty": "oct", "kid": b64url_encode(k.id.bytes), "k": b64url_encode(k.value)}
            for k in keys]
    return json.dumps({"keys": jwks, "type": session_type}).encode("utf-8")


class KeyDeliveryApp:
    """Answers ``/keydelivery/...``; every other path goes to ``inner`` (the origin)."""

    def __init__(self, ctx: Context, inner: ASGIApp | None = None) -> None:
        self.ctx = ctx
        self.inner = inner

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The inner app's own coroutine for every other path: no extra frame per request."""
        path: str = scope.get("path", "")
        if path.startswith(_PREFIX) and scope["type"] == "http":
            return self._answer(scope, receive, send, path)
        if self.inner is None:
            return _send(send, 404, [(b"content-type", b"text/plain")], b"Not found.\n")
        return self.inner(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        try:
            await self._dispatch(scope, receive, send, path)
        except Exception as exc:  # every refusal and failure becomes a plain status
            await send_refusal(send, exc)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        method = scope["method"]
        if method == "OPTIONS":
            await self._preflight(scope, send)
            return
        headers = dict(scope["headers"])
        token = request_token(headers, scope.get("query_string", b""))
        if path.startswith(HLS_KEY_PATH) and method in ("GET", "HEAD"):
            kid = parse_kid(path[len(HLS_KEY_PATH):])
            keys = await self._deliver([kid], token)
            await _send(send, 200, [(b"content-type", b"application/octet-stream")],
                        b"" if method == "HEAD" else keys[0].value)
        elif path == CLEARKEY_PATH and method == "POST":
            body = await _read_body(receive)
            keys = await self._deliver(parse_license_request(body), token)
            await _send(send, 200, [(b"content-type", b"application/json")],
                        license_document(keys, license_type(body)))
        elif path.startswith(HLS_KEY_PATH) or path == CLEARKEY_PATH:
            await _send(send, 405, [(b"allow", METHODS), (b"content-type", b"text/plain")],
                        b"Method not allowed.\n")
        else:
            raise errors.NotFoundError("Not found.")

    async def _preflight(self, scope: Scope, send: Send) -> None:
        asked = dict(scope["headers"]).get(b"access-control-request-headers",
                                           b"Authorization, Content-Type")
        await _send(send, 204, [
            (b"access-control-allow-methods", METHODS),
            (b"access-control-allow-headers", asked),
            (b"access-control-max-age", b"86400"),
            (b"allow", METHODS),
        ], b"")

    async def _deliver(self, kids: list[uuid.UUID], token: str | None) -> list[ContentKey]:
        def run() -> list[ContentKey]:
            with self.ctx.session() as session:
                return deliver_keys(session, self.ctx.master_key, kids, token, utcnow())

        return await anyio.to_thread.run_sync(run)


def with_key_delivery(ctx: Context, inner: ASGIApp) -> ASGIApp:
    """``inner`` (the origin) with ``/keydelivery/...`` answered by key delivery first."""
    return KeyDeliveryApp(ctx, inner)
