"""Reading Azure Blob request headers and query parameters into checked values."""

from __future__ import annotations

import base64
import binascii

from starlette.datastructures import Headers

from openvod.blob.errors import BlobServiceError
from openvod.httpkit.ranges import ByteSpan, RangeProblem, select_span, unsatisfied_range

MAX_LIST_RESULTS = 5000


def check_length(headers: Headers, limit_bytes: int) -> None:
    """413 RequestBodyTooLarge before reading a body whose Content-Length is over the limit."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise BlobServiceError(
            413, "RequestBodyTooLarge", f"The request body exceeds {limit_bytes} bytes."
        )


def parse_md5_header(headers: Headers, name: str) -> bytes | None:
    """The 16-byte digest in base64 header ``name``, None if absent, 400 InvalidMd5 if malformed."""
    text = headers.get(name)
    if not text:
        return None
    try:
        digest = base64.b64decode(text, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 16:
        raise BlobServiceError(
            400,
            "InvalidMd5",
            "The MD5 value specified in the request is invalid. "
            "The MD5 value must be 128 bits and Base64-encoded.",
        )
    return digest


def parse_block_id(text: str) -> str:
    """A block id must be base64 of at most 64 bytes (Azure's rule)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if not text or not raw or len(raw) > 64:
        raise BlobServiceError(
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid "
            "(blockid must be base64 of 1-64 bytes).",
        )
    return text


def parse_max_results(text: str | None) -> int | None:
    """List Blobs' ``maxresults``: None if absent, else 1-5000."""
    if text is None:
        return None
    if not text.isdigit():
        raise BlobServiceError(
            400, "InvalidQueryParameterValue", f"maxresults must be a number: {text!r}"
        )
    value = int(text)
    if not 1 <= value <= MAX_LIST_RESULTS:
        raise BlobServiceError(
            400, "OutOfRangeQueryParameterValue", f"maxresults must be 1-{MAX_LIST_RESULTS}."
        )
    return value


def requested_span(headers: Headers, size_bytes: int, *, range_applies: bool) -> ByteSpan | None:
    """The byte span a Get Blob asks for; None for the whole blob.

    ``x-ms-range`` is strict: malformed (or several ranges) is 400
    InvalidHeaderValue. ``Range`` is lenient: malformed is ignored, and so is
    the header when If-Range did not match (``range_applies`` False). Either
    gives 416 InvalidRange when the range starts at or past the end (so for
    any range of an empty blob, which the SDK relies on).
    """
    header = headers.get("x-ms-range") or None  # an empty one is no range, as before
    strict = header is not None
    if header is None:
        header = headers.get("range")
        if not header or not range_applies:
            return None
    choice = select_span(header, size_bytes, strict=strict)
    if choice is RangeProblem.MALFORMED:
        raise BlobServiceError(400, "InvalidHeaderValue", "The range header is malformed.")
    if choice is RangeProblem.UNSATISFIABLE:
        raise BlobServiceError(
            416,
            "InvalidRange",
            "The range specified is invalid for the current size of the resource.",
            {"Content-Range": unsatisfied_range(size_bytes)},
        )
    return None if choice is RangeProblem.IGNORED else choice
