"""Raw ASGI response helpers shared by streaming and download: headers, CORS, errors.

The origin answers on the raw ASGI interface (no framework objects per
request). Header lists are ``[(lower-case name bytes, value bytes)]`` as ASGI
wants them.
"""

from __future__ import annotations

from starlette.types import Scope, Send

from openvod.origin.errors import error_headers, error_text, status_for

HeaderList = list[tuple[bytes, bytes]]

ALLOWED_METHODS = b"GET, HEAD, OPTIONS"
CORS_HEADERS: HeaderList = [
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-expose-headers",
        b"Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified, Date",
    ),
]
_PREFLIGHT_HEADERS = (
    b"Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, If-Range, "
    b"Origin, Accept"
)
PREFLIGHT_MAX_AGE = b"86400"
TEXT_PLAIN = b"text/plain; charset=utf-8"


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by lower-case name (the last of repeated ones wins)."""
    return dict(scope["headers"])


def preflight_headers(headers: dict[bytes, bytes]) -> HeaderList:
    """The answer to a CORS preflight: any origin, our methods, the headers asked for."""
    asked = headers.get(b"access-control-request-headers") or _PREFLIGHT_HEADERS
    return [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", ALLOWED_METHODS),
        (b"access-control-allow-headers", asked),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE),
        (b"allow", ALLOWED_METHODS),
        (b"content-length", b"0"),
    ]


async def send_response(
    send: Send, status: int, headers: HeaderList, body: bytes = b"", *, head_only: bool = False
) -> None:
    """Send a whole response; ``head_only`` keeps the headers (Content-Length too) but no body."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else body})


async def send_not_modified(send: Send, headers: HeaderList) -> None:
    """A 304 with the validators and caching headers of the full response."""
    await send({"type": "http.response.start", "status": 304, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def send_error(send: Send, exc: BaseException, *, head_only: bool = False) -> None:
    """The error response of a domain exception, per the table in :mod:`.errors`."""
    status = status_for(exc)
    body = error_text(exc, status).encode("utf-8")
    headers = [
        *CORS_HEADERS,
        (b"content-type", TEXT_PLAIN),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *error_headers(exc),
    ]
    await send_response(send, status, headers, body, head_only=head_only)


async def send_method_not_allowed(send: Send) -> None:
    """405 for anything but GET, HEAD and OPTIONS."""
    body = b"Method not allowed.\n"
    headers = [
        *CORS_HEADERS,
        (b"allow", ALLOWED_METHODS),
        (b"content-type", TEXT_PLAIN),
        (b"content-length", str(len(body)).encode()),
    ]
    await send_response(send, 405, headers, body)
