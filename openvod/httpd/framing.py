"""Bytes of HTTP/1.1 framing: status lines, the date header, header validation, and the
few request-head fields the server itself reads."""

from __future__ import annotations

import re
import time
from http import HTTPStatus
from urllib.parse import unquote_to_bytes

from openvod.httpkit.dates import format_http_date

# RFC 9110 token characters (a field name); a field value may hold anything but CR, LF, NUL.
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\r\n\x00]")


class InvalidResponseHeader(ValueError):
    """The app gave a response header that would break the framing (CR, LF, NUL)."""


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


STATUS_LINES = {
    (version, status): b"HTTP/%s %d %s\r\n" % (version, status, _reason(status))
    for version in (b"1.1", b"1.0")
    for status in range(100, 600)
}


def status_line(version: bytes, status: int) -> bytes:
    """``HTTP/1.1 200 OK\\r\\n`` (a status outside 100-599 is refused)."""
    line = STATUS_LINES.get((version, status))
    if line is None:
        raise InvalidResponseHeader(f"status {status} is not an HTTP status")
    return line


def header_line(name: bytes, value: bytes) -> bytes:
    """``name: value\\r\\n``, or :class:`InvalidResponseHeader` if either would inject."""
    if _FIELD_NAME.fullmatch(name) is None or _BAD_VALUE.search(value) is not None:
        raise InvalidResponseHeader(f"response header {name[:40]!r} is not valid")
    return b"%s: %s\r\n" % (name, value)


# The lines of (name, value) pairs already checked: an app sends the same few headers
# again and again (CORS, content types, cache-control, the ETag of a popular segment),
# so each pair is validated and formatted once (the responder looks them up by pair).
# Forgotten all at once when full.
HEADER_LINES_KEPT = 4096
KNOWN_LINES: dict[tuple[bytes, bytes], bytes] = {}


def checked_line(name: bytes, value: bytes) -> bytes:
    """:func:`header_line`, remembered in :data:`KNOWN_LINES` when both are ``bytes``."""
    line = header_line(name, value)
    if type(name) is bytes and type(value) is bytes:
        if len(KNOWN_LINES) >= HEADER_LINES_KEPT:
            KNOWN_LINES.clear()
        KNOWN_LINES[(name, value)] = line
    return line


class DateHeader:
    """The ``date`` header line, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        """The current ``date: ...`` line."""
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"date: " + format_http_date(now).encode("ascii") + b"\r\n"
        return self._line


DATE = DateHeader()


def plain_response(status: int, text: bytes, *, extra: bytes = b"") -> bytes:
    """A whole ``text/plain`` response that closes the connection (errors from the server)."""
    return (
        STATUS_LINES[(b"1.1", status)] + DATE.line() + extra
        + b"content-type: text/plain; charset=utf-8\r\n"
        + b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(text) + text
    )  # fmt: skip


def body_headers(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool, bool]:
    """(Content-Length or None, chunked, expects 100-continue) of a request head.

    A Content-Length that is not a number is a ``ValueError``."""
    declared: int | None = None
    chunked = expects = False
    for name, value in headers:
        if name == b"content-length":
            if not value.strip().isdigit():
                raise ValueError("malformed Content-Length")
            declared = int(value)
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"expect":
            expects = value.strip().lower() == b"100-continue"
    return declared, chunked, expects


def decode_path(raw_path: bytes) -> str:
    """The ASGI ``path``: percent-decoded, UTF-8 (undecodable bytes replaced)."""
    if b"%" not in raw_path:
        return raw_path.decode("latin-1")
    return unquote_to_bytes(raw_path).decode("utf-8", "replace")
