"""What a GET or HEAD of one body answers, given its conditional and Range headers.

The one place the origin turns :mod:`openvod.httpkit`'s verdicts into HTTP:
304 (a cache may reuse what it has), 412 (:class:`PreconditionFailedError`),
416 (:class:`RangeNotSatisfiableError`), 206 for one satisfiable range, else
200 with the whole body. Range headers are read leniently (RFC 9110): one
that does not parse, or asks for several ranges, is ignored, and so is any
Range when If-Range does not match.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from openvod.httpkit.conditionals import (
    NO_PRECONDITIONS,
    Outcome,
    Preconditions,
    Validators,
    evaluate,
)
from openvod.httpkit.ranges import ByteSpan, RangeProblem, content_range, select_span
from openvod.origin.errors import PreconditionFailedError, RangeNotSatisfiableError
from openvod.origin.responses import HeaderList


class Selection(NamedTuple):
    """The status to answer with and the part of the body it carries."""

    status: int  # 200, 206 or 304
    span: ByteSpan

    def headers(self, size_bytes: int) -> HeaderList:
        """Content-Length, and Content-Range for a 206 (nothing for a 304)."""
        if self.status == 304:
            return []
        out = [(b"content-length", str(self.span.length).encode())]
        if self.status == 206:
            out.append((b"content-range", content_range(self.span, size_bytes).encode()))
        return out


def select(
    headers: dict[bytes, bytes], *, etag: str, last_modified: datetime | None, size_bytes: int
) -> Selection:
    """The answer to a GET or HEAD of a ``size_bytes`` body with these validators."""
    conditions = Preconditions.from_raw_headers(headers)
    range_header = headers.get(b"range")
    if conditions is NO_PRECONDITIONS and range_header is None:
        return Selection(200, ByteSpan(0, size_bytes))  # most requests: nothing to decide
    verdict = evaluate(conditions, Validators(etag, last_modified), method="GET")
    if verdict.outcome is Outcome.FAILED:
        raise PreconditionFailedError(verdict.decided_by or "precondition")
    if verdict.outcome is Outcome.NOT_MODIFIED:
        return Selection(304, ByteSpan(0, 0))
    whole = Selection(200, ByteSpan(0, size_bytes))
    if range_header is None or not verdict.range_applies:
        return whole
    choice = select_span(range_header, size_bytes)
    if choice is RangeProblem.UNSATISFIABLE:
        raise RangeNotSatisfiableError(size_bytes)
    if isinstance(choice, RangeProblem):
        return whole
    return Selection(206, choice)
