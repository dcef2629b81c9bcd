"""Preconditions (RFC 9110 section 13.2.2), evaluated in the RFC's order.

1. If-Match (strong comparison; ``*`` needs a current representation):
   false -> 412.
2. Without If-Match, If-Unmodified-Since (a valid date, a known Last-Modified):
   modified after it -> 412.
3. If-None-Match (weak comparison; ``*`` matches any current representation):
   true -> 304 for GET/HEAD, 412 otherwise.
4. Without If-None-Match, for GET/HEAD, If-Modified-Since (a valid date, a
   known Last-Modified): not modified since -> 304.
5. If-Range (only matters with a Range header on GET): the range applies only
   if the tag matches strongly or the date equals Last-Modified.

Invalid dates are ignored; Last-Modified is compared at HTTP's one-second
resolution. Azure Storage also honours If-Modified-Since on writes (412);
``modified_since_on_writes`` asks for that.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from openvod.httpkit.dates import parse_http_date
from openvod.httpkit.etags import EntityTag, list_matches, parse_etag, parse_tag_list, strong_match

_SAFE_METHODS = frozenset({"GET", "HEAD"})
_NAMES = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range")
_ABSENT = (None,) * len(_NAMES)


@dataclass(frozen=True)
class Preconditions:
    """The conditional header values of a request (None where absent)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None
    if_range: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Preconditions:
        """Read them from a mapping of lower-case header names (as Starlette's ``Headers``)."""
        values = [headers.get(name) for name in _NAMES]
        return cls(*values) if any(value is not None for value in values) else NO_PRECONDITIONS

    @classmethod
    def from_raw_headers(cls, headers: Mapping[bytes, bytes]) -> Preconditions:
        """Read them from raw ASGI headers keyed by lower-case name bytes."""
        get = headers.get
        raw = (get(b"if-match"), get(b"if-none-match"), get(b"if-modified-since"),
               get(b"if-unmodified-since"), get(b"if-range"))  # fmt: skip
        if raw == _ABSENT:
            return NO_PRECONDITIONS  # the common case, kept cheap for the origin
        return cls(*(None if value is None else value.decode("latin-1") for value in raw))


NO_PRECONDITIONS = Preconditions()


@dataclass(frozen=True)
class Validators:
    """The current representation's validators (either may be unknown)."""

    etag: str | None = None
    last_modified: datetime | None = None


class Outcome(enum.Enum):
    """What the preconditions say to do."""

    PROCEED = "proceed"
    NOT_MODIFIED = "not modified"  # 304
    FAILED = "precondition failed"  # 412


@dataclass(frozen=True)
class Verdict:
    """An outcome, the header that decided it, and whether a Range may be honoured."""

    outcome: Outcome
    decided_by: str | None = None
    range_applies: bool = True


_PROCEED = Verdict(Outcome.PROCEED)


def evaluate(
    conditions: Preconditions,
    current: Validators | None,
    *,
    method: str,
    modified_since_on_writes: bool = False,
) -> Verdict:
    """The verdict on a request for a representation (``current`` None: there is none)."""
    if conditions is NO_PRECONDITIONS:
        return _PROCEED  # the hot path; evaluating would give the same
    safe = method.upper() in _SAFE_METHODS
    tag = parse_etag(current.etag) if current is not None else None
    modified = _seconds(current.last_modified) if current is not None else None
    exists = current is not None
    if conditions.if_match is not None:
        listed = parse_tag_list(conditions.if_match)
        if not (exists and (listed.any or list_matches(listed, tag, weak=False))):
            return Verdict(Outcome.FAILED, "if-match")
    elif _later(modified, conditions.if_unmodified_since):
        return Verdict(Outcome.FAILED, "if-unmodified-since")
    if conditions.if_none_match is not None:
        listed = parse_tag_list(conditions.if_none_match)
        if exists and (listed.any or list_matches(listed, tag, weak=True)):
            return Verdict(Outcome.NOT_MODIFIED if safe else Outcome.FAILED, "if-none-match")
    elif safe or modified_since_on_writes:
        since = parse_http_date(conditions.if_modified_since)
        if modified is not None and since is not None and modified <= since:
            failed = Outcome.NOT_MODIFIED if safe else Outcome.FAILED
            return Verdict(failed, "if-modified-since")
    range_applies = _range_applies(conditions.if_range, tag, modified)
    return Verdict(Outcome.PROCEED, range_applies=range_applies)


def _seconds(moment: datetime | None) -> datetime | None:
    """``moment`` at HTTP's resolution, aware (a naive one is UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0)


def _later(modified: datetime | None, unmodified_since: str | None) -> bool:
    """If-Unmodified-Since is false: the representation changed after the date."""
    limit = parse_http_date(unmodified_since)
    return modified is not None and limit is not None and modified > limit


def _range_applies(if_range: str | None, tag: EntityTag | None, modified: datetime | None) -> bool:
    """If-Range: an entity tag must match strongly, a date must equal Last-Modified."""
    if if_range is None:
        return True
    text = if_range.strip()
    if text.startswith(('"', "W/")):
        wanted = parse_etag(text)
        return wanted is not None and tag is not None and strong_match(wanted, tag)
    when = parse_http_date(text)
    return when is not None and modified is not None and when == modified


__all__ = ["NO_PRECONDITIONS", "Outcome", "Preconditions", "Validators", "Verdict", "evaluate"]
