"""HTTP dates (RFC 9110 section 5.6.7): IMF-fixdate out, every form real clients send in.

Accepted on input (case-insensitively, with blanks folded):

- IMF-fixdate ``Sun, 06 Nov 1994 08:49:37 GMT`` (the day name may be missing);
- the obsolete RFC 850 form ``Sunday, 06-Nov-94 08:49:37 GMT`` (a two-digit
  year more than 50 years ahead of ``now`` is taken from the last century, as
  RFC 9110 asks);
- the obsolete asctime form ``Sun Nov  6 08:49:37 1994``.

The zone may be ``GMT``, ``UTC``, ``UT``, ``Z``, a numeric offset (``+0000``,
``-0000`` as ``email.utils`` and the Azure SDK write it, or any other
``+hhmm``) or missing, which means GMT (HTTP dates are always GMT). Anything
else gives None, never an exception: RFC 9110 says an invalid date in a
conditional header is ignored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip
MAX_DATE_CHARS = 64  # the longest valid form is 38 characters; more is not a date
_MONTH_NUMBER = {name.lower(): number for number, name in enumerate(MONTHS, start=1)}
_DAY = (
    r"(?:(?:mon(?:day)?|tue(?:sday)?|wed(?:nesday)?|thu(?:rsday)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?)\s*,?\s*)"
)
_TIME = r"(\d{1,2}):(\d{2}):(\d{2})"
_ZONE = r"(?:\s*(gmt|utc|ut|z|[+-]\d{4}))?"
_FIXDATE = re.compile(_DAY + r"?(\d{1,2})\s+([a-z]{3})\s+(\d{4})\s+" + _TIME + _ZONE)
_RFC850 = re.compile(_DAY + r"(\d{1,2})-([a-z]{3})-(\d{2})\s+" + _TIME + _ZONE)
_ASCTIME = re.compile(_DAY + r"([a-z]{3})\s+(\d{1,2})\s+" + _TIME + r"\s+(\d{4})" + _ZONE)


def format_http_date(when: datetime | float) -> str:
    """``when`` as an IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), locale-independent.

    ``when`` is a datetime (a naive one is taken as UTC) or POSIX seconds.
    """
    if isinstance(when, datetime):
        moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(when, UTC)
    return (
        f"{DAYS[moment.weekday()]}, {moment.day:02d} {MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )


def parse_http_date(value: str | bytes | None, *, now: datetime | None = None) -> datetime | None:
    """The moment an HTTP date names (aware, UTC), or None if ``value`` is not one.

    ``now`` (default: the system clock) only places two-digit RFC 850 years.
    """
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if len(text) > MAX_DATE_CHARS:
        return None
    text = " ".join(text.split()).lower()
    if match := _FIXDATE.fullmatch(text):
        day, month, year, hour, minute, second, zone = match.groups()
        return _build(int(year), month, day, hour, minute, second, zone)
    if match := _ASCTIME.fullmatch(text):
        month, day, hour, minute, second, year, zone = match.groups()
        return _build(int(year), month, day, hour, minute, second, zone)
    if match := _RFC850.fullmatch(text):
        day, month, year, hour, minute, second, zone = match.groups()
        return _build(_full_year(int(year), now), month, day, hour, minute, second, zone)
    return None


def _full_year(two_digits: int, now: datetime | None) -> int:
    """RFC 9110: a two-digit year more than 50 years in the future is in the past century."""
    this_year = (now or datetime.now(UTC)).year
    year = this_year - this_year % 100 + two_digits
    if year > this_year + 50:
        year -= 100
    return year


def _build(
    year: int, month: str, day: str, hour: str, minute: str, second: str, zone: str | None
) -> datetime | None:
    number = _MONTH_NUMBER.get(month)
    offset = _offset(zone)
    if number is None or offset is None or int(second) > 60:
        return None
    try:
        # A leap second (:60) is read as the last whole second before it.
        moment = datetime(year, number, int(day), int(hour), int(minute),
                          min(int(second), 59), tzinfo=UTC)  # fmt: skip
        return moment - offset
    except (ValueError, OverflowError):
        return None  # no such day or hour, or out of datetime's years


def _offset(zone: str | None) -> timedelta | None:
    """The zone's distance from UTC; None if it is not a real offset."""
    if zone is None or zone[0] not in "+-":
        return timedelta(0)
    hours, minutes = int(zone[1:3]), int(zone[3:5])
    if hours > 23 or minutes > 59:
        return None
    size = timedelta(hours=hours, minutes=minutes)
    return -size if zone[0] == "-" else size


__all__ = ["DAYS", "MONTHS", "format_http_date", "parse_http_date"]
