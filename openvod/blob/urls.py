"""Request line parsing for the blob endpoint: path, dot segments, and query."""

from __future__ import annotations

from urllib.parse import unquote

from openvod.blob.errors import BlobServiceError


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: resolve '.' and '..' segments; never climbs above '/'."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


def _unquote(text: str, what: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise BlobServiceError(400, "InvalidUri", f"The {what} is not valid UTF-8.") from None


def split_path(raw_path: bytes) -> tuple[str, str | None]:
    """``(container, blob or None)`` from the raw (still percent-encoded) request path.

    Dot segments are resolved on the raw path first, as Azure does, so
    ``/c/../c/x`` names blob ``x`` in container ``c``; the container is then
    the first segment and the rest, decoded, is the blob name.
    """
    try:
        text = raw_path.decode("ascii")
    except UnicodeDecodeError:
        raise BlobServiceError(400, "InvalidUri", "The request path is not ASCII.") from None
    resolved = remove_dot_segments("/" + text.lstrip("/")).lstrip("/")
    container_part, _, blob_part = resolved.partition("/")
    container = _unquote(container_part, "container name")
    blob = _unquote(blob_part, "blob name") if blob_part else None
    return container, blob


def parse_query(raw_query: bytes) -> dict[str, str]:
    """Decode a query string; '+' stays '+' (SAS signatures are base64) and the first value wins."""
    try:
        text = raw_query.decode("ascii")
    except UnicodeDecodeError:
        raise BlobServiceError(400, "InvalidUri", "The query string is not ASCII.") from None
    params: dict[str, str] = {}
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params.setdefault(_unquote(name, "query"), _unquote(value, "query"))
    return params
