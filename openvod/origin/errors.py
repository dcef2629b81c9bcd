"""The origin's errors and the ONE table mapping domain errors to HTTP statuses.

Every failure of a streaming or download request is a domain exception;
:func:`status_for` is the only place that decides its HTTP status. Error
bodies are short plain text: players and CDNs read the status, not the body.

Errors specific to the origin::

    NotFoundError
    ├── NotPublishedError            -> 404 (endpoint stopped, locator outside its window,
    │                                        protocol not enabled by the policy)
    └── MissingAssetFileError        -> 404 (the asset's .ism lists a file it does not hold)
    MediaError
    └── BrokenAssetError             -> 500 (a stored asset the origin cannot package)
    InvalidRequestError
    ├── MalformedUrlError            -> 400 (a segment or manifest URL that does not parse)
    ├── PreconditionFailedError      -> 412 (If-Match or If-Unmodified-Since is false)
    └── RangeNotSatisfiableError     -> 416 (carries the file size for Content-Range)
"""

from __future__ import annotations

import logging

from openvod import errors
from openvod.httpkit.ranges import unsatisfied_range

log = logging.getLogger(__name__)


class NotPublishedError(errors.NotFoundError):
    """The content exists but is not published for this request (answered like a 404)."""


class MissingAssetFileError(errors.NotFoundError):
    """The asset's ``.ism`` lists a file the asset does not hold; the body says which."""

    def __init__(self, reason: str, *, file: str | None = None) -> None:
        super().__init__(reason)
        self.file = file


class BrokenAssetError(errors.MediaError):
    """A stored asset the origin cannot package (truncated or garbage MP4, a ``.ism`` that
    does not parse or does not match its files); the body carries the short reason.

    The origin logs it once per asset version where it is found, not per request.
    """

    def __init__(self, reason: str, *, file: str | None = None) -> None:
        super().__init__(reason)
        self.file = file


class MalformedUrlError(errors.InvalidRequestError):
    """A streaming URL that the origin cannot parse."""


class PreconditionFailedError(errors.InvalidRequestError):
    """A precondition of the request (If-Match, If-Unmodified-Since) is false."""

    def __init__(self, header: str) -> None:
        super().__init__(f"precondition failed: {header}")
        self.header = header


class RangeNotSatisfiableError(errors.InvalidRequestError):
    """A Range header none of whose ranges overlaps the file."""

    def __init__(self, size_bytes: int) -> None:
        super().__init__(f"range not satisfiable for a file of {size_bytes} bytes")
        self.size_bytes = size_bytes


# First match wins: subclasses before their bases.
STATUS_BY_ERROR: tuple[tuple[type[BaseException], int], ...] = (
    (RangeNotSatisfiableError, 416),
    (PreconditionFailedError, 412),
    (MissingAssetFileError, 404),
    (BrokenAssetError, 500),
    (errors.InvalidNameError, 404),  # names that could escape the container: nothing there
    (errors.NotFoundError, 404),
    (FileNotFoundError, 404),
    (errors.InvalidRequestError, 400),
    (errors.AuthenticationError, 401),
    (errors.AuthorizationError, 403),
    (errors.MediaError, 500),  # stored media the origin cannot package: the server's problem
)


def status_for(exc: BaseException) -> int:
    """The HTTP status of an exception (500 for anything unexpected)."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 500


def error_headers(exc: BaseException) -> list[tuple[bytes, bytes]]:
    """Extra headers an error response needs (Content-Range on 416)."""
    if isinstance(exc, RangeNotSatisfiableError):
        return [(b"content-range", unsatisfied_range(exc.size_bytes).encode())]
    return []


def error_text(exc: BaseException, status: int) -> str:
    """The plain-text body: the domain message, never internals for a 500.

    Asset errors carry their short reason (they were logged, once, where they were
    found); other 500s are logged here.
    """
    if isinstance(exc, BrokenAssetError):
        return f"The asset is malformed: {exc.message}\n"
    if isinstance(exc, MissingAssetFileError):
        return f"The asset is incomplete: {exc.message}\n"
    if isinstance(exc, errors.StorageError):
        log.error("origin request failed: %s", exc.message)
        return "The storage is unavailable; see the server log.\n"
    if status >= 500:
        log.error("origin request failed", exc_info=exc)
        return "Internal error; see the server log.\n"
    if isinstance(exc, errors.OpenvodError) and status != 404:
        return exc.message + "\n"
    return "Not found.\n" if status == 404 else "Bad request.\n"
