"""HTTP conditional headers (If-Match, If-None-Match, If-[Un]Modified-Since), as Azure does."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

from starlette.datastructures import Headers

from openvod.blob.errors import BlobServiceError
from openvod.storage.store import BlobInfo


def _etags(header: str) -> set[str]:
    tags = set()
    for part in header.split(","):
        tag = part.strip().removeprefix("W/")
        if tag and not tag.startswith('"'):
            tag = f'"{tag}"'
        tags.add(tag)
    return tags


def _http_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None  # an unreadable date is ignored, as HTTP says


def _failed() -> BlobServiceError:
    return BlobServiceError(
        412,
        "ConditionNotMet",
        "The condition specified using HTTP conditional header(s) is not met.",
    )


def _not_modified() -> BlobServiceError:
    return BlobServiceError(304, "ConditionNotMet", "Not modified.")


def check_conditions(headers: Headers, info: BlobInfo | None, *, write: bool) -> None:
    """Raise 412 (or 304 for reads, 409 for ``If-None-Match: *`` writes) if a condition fails.

    ``info`` is the blob as it is now, None if it does not exist.
    """
    if_match = headers.get("if-match")
    if if_match is not None and (
        info is None or (if_match.strip() != "*" and info.etag not in _etags(if_match))
    ):
        raise _failed()
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and info is not None:
        if if_none_match.strip() == "*":
            if write:
                raise BlobServiceError(
                    409, "BlobAlreadyExists", "The specified blob already exists."
                )
            raise _not_modified()
        if info.etag in _etags(if_none_match):
            raise _failed() if write else _not_modified()
    if info is None:
        return
    modified = info.last_modified.replace(microsecond=0)
    since = _http_time(headers.get("if-modified-since"))
    if since is not None and modified <= since:
        raise _failed() if write else _not_modified()
    unmodified_since = _http_time(headers.get("if-unmodified-since"))
    if unmodified_since is not None and modified > unmodified_since:
        raise _failed()
