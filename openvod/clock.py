"""Time helpers: every timestamp openvod stores or prints is tz-aware UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
# .NET TimeSpan text ("00:00:02", "1.00:00:00.5"), which AMS also accepted for durations.
_TIMESPAN = re.compile(
    r"^(?:(?P<days>\d+)\.)?(?P<hours>\d+):(?P<minutes>\d{1,2}):(?P<seconds>\d{1,2}(?:\.\d+)?)$"
)


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime (as SQLite returns them) as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with a 'Z', the way ARM writes timestamps."""
    if value is None:
        return None
    text = as_utc(value).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp; naive ones are UTC."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    # Python < 3.11 style fractions longer than 6 digits: trim them.
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", cleaned)
    return as_utc(datetime.fromisoformat(cleaned))


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration such as 'PT2S', 'pt2s' or 'PT1H30M', or a TimeSpan '00:00:02'.

    The one duration grammar of openvod: presets, job inputs and filters all use it.
    """
    cleaned = text.strip().upper()
    match = _DURATION.match(cleaned) if cleaned not in ("P", "PT") else None
    match = match or _TIMESPAN.match(cleaned)
    if match is None:
        raise ValueError(f"'{text}' is not an ISO 8601 duration such as PT2S")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    try:
        return timedelta(
            days=parts.get("days", 0),
            hours=parts.get("hours", 0),
            minutes=parts.get("minutes", 0),
            seconds=parts.get("seconds", 0),
        )
    except OverflowError:  # 'P99999999999D' is well-formed but beyond any clock
        raise ValueError(f"'{text}' is too long a duration") from None


def canonical_duration(text: str) -> str:
    """The ISO 8601 form readers expect: 'pt2s' → 'PT2S', TimeSpan '00:01:30' → 'PT90S'.

    Durations are stored this way because the SDK's reader (isodate) takes
    upper-case ISO 8601 only.
    """
    seconds = parse_duration(text).total_seconds()  # raises ValueError on a bad one
    cleaned = text.strip().upper()
    if cleaned.startswith("P"):
        return cleaned
    return "PT" + f"{seconds:.6f}".rstrip("0").rstrip(".") + "S"
