"""Reading Azure Blob request headers and query parameters into checked values."""

from __future__ import annotations

import base64
import binascii

from starlette.datastructures import Headers

from openvod.blob.errors import BlobServiceError
from openvod.blob.urls import parse_range

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


def pick_range_header(headers: Headers, size_bytes: int) -> str | None:
    """``x-ms-range`` (strict), else a well-formed ``Range`` (a malformed one is ignored)."""
    if "x-ms-range" in headers:
        return headers["x-ms-range"]
    candidate = headers.get("range")
    if not candidate:
        return None
    try:
        parse_range(candidate, size_bytes)
    except BlobServiceError as exc:
        if exc.status == 400:
            return None
    return candidate
