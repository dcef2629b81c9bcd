"""Readers for the scalar value formats of AMS preset JSON.

Every reader takes the value and its JSON path (``codecs[0].layers[1].bitrate``)
and raises :class:`~openvod.errors.InvalidPresetError` naming that path, so a
person can find the bad field in the transform they sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from openvod.errors import InvalidPresetError

# ISO-8601 durations as the SDK writes them ("PT2S", "PT1M30.5S", "P1DT2H").
_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
# .NET TimeSpan text ("00:00:02", "1.00:00:00.5"), which AMS also accepted.
_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_CSS_RGB = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$", re.IGNORECASE)
_COLOR = re.compile(r"^(?:#|0x)?[0-9A-Za-z]{1,32}$")


def fail(path: str, problem: str) -> InvalidPresetError:
    """Build the error for a bad field: ``"<path>: <problem>"``."""
    return InvalidPresetError(f"Invalid preset: {path} {problem}")


def as_mapping(value: Any, path: str) -> Mapping[str, Any]:
    """Return ``value`` if it is a JSON object."""
    if not isinstance(value, Mapping):
        raise fail(path, f"must be a JSON object, got {type(value).__name__}")
    return value


def as_list(value: Any, path: str) -> Sequence[Any]:
    """Return ``value`` if it is a JSON array."""
    if not isinstance(value, list | tuple):
        raise fail(path, f"must be a JSON array, got {type(value).__name__}")
    return value


def opt_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """An optional string field."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail(f"{path}.{key}", f"must be a string, got {value!r}")
    return value


def opt_int(obj: Mapping[str, Any], key: str, path: str, *, minimum: int = 0) -> int | None:
    """An optional integer field of at least ``minimum``."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise fail(f"{path}.{key}", f"must be an integer, got {value!r}")
    if value < minimum:
        raise fail(f"{path}.{key}", f"must be at least {minimum}, got {value!r}")
    return int(value)


def opt_float(obj: Mapping[str, Any], key: str, path: str) -> float | None:
    """An optional number field."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"{path}.{key}", f"must be a number, got {value!r}")
    return float(value)


def opt_bool(obj: Mapping[str, Any], key: str, path: str) -> bool | None:
    """An optional boolean field."""
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise fail(f"{path}.{key}", f"must be true or false, got {value!r}")


def opt_choice(obj: Mapping[str, Any], key: str, path: str, choices: Sequence[str]) -> str | None:
    """An optional enum field, matched case-insensitively, returned in canonical case."""
    value = opt_str(obj, key, path)
    if value is None:
        return None
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    raise fail(f"{path}.{key}", f"must be one of {', '.join(choices)}; got {value!r}")


def parse_duration_seconds(text: str, path: str) -> float:
    """Seconds in an ISO-8601 duration (``PT2S``) or a TimeSpan (``00:00:02``)."""
    match = _ISO_DURATION.match(text.strip())
    if match and text.strip() not in ("P", "PT"):
        parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
        return (
            parts["days"] * 86400 + parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"]
        )
    span = _TIMESPAN.match(text.strip())
    if span:
        days = float(span["days"] or 0)
        return days * 86400 + float(span["h"]) * 3600 + float(span["m"]) * 60 + float(span["s"])
    raise fail(path, f"must be an ISO-8601 duration such as 'PT2S', got {text!r}")


def opt_duration(obj: Mapping[str, Any], key: str, path: str) -> float | None:
    """An optional duration field, in seconds."""
    value = opt_str(obj, key, path)
    return None if value is None else parse_duration_seconds(value, f"{path}.{key}")


@dataclass(frozen=True)
class Dimension:
    """A width or height: absolute pixels (``"1280"``) or a share of the source (``"50%"``)."""

    value: float
    is_percent: bool = False

    def resolve(self, source_px: int) -> float:
        """The size in pixels (unrounded) for a source dimension of ``source_px``."""
        return source_px * self.value / 100.0 if self.is_percent else self.value


def opt_dimension(
    obj: Mapping[str, Any], key: str, path: str, *, allow_zero: bool = False
) -> Dimension | None:
    """An optional pixel-or-percent dimension field (``allow_zero`` for offsets)."""
    value = obj.get(key)
    if value is None:
        return None
    text = str(value).strip()
    is_percent = text.endswith("%")
    number = text[:-1].strip() if is_percent else text
    if not _NUMBER.match(number) or float(number) < (0 if allow_zero else 1e-9):
        raise fail(
            f"{path}.{key}", f"must be pixels ('1280') or a percentage ('50%'), got {value!r}"
        )
    if is_percent and float(number) > 100:
        raise fail(f"{path}.{key}", f"must not exceed 100%, got {value!r}")
    return Dimension(float(number), is_percent)


PositionKind = Literal["seconds", "frames", "percent", "best"]


@dataclass(frozen=True)
class Position:
    """A point or span in the input: seconds, a frame count, a share of the duration, or {Best}."""

    kind: PositionKind
    value: float = 0.0

    def to_frames(self, frame_rate: float, duration_seconds: float) -> float:
        """The position as a (fractional) frame count; {Best} counts as 0."""
        if self.kind == "seconds":
            return self.value * frame_rate
        if self.kind == "percent":
            return self.value / 100.0 * duration_seconds * frame_rate
        return self.value if self.kind == "frames" else 0.0


def opt_position(
    obj: Mapping[str, Any], key: str, path: str, *, allow_best: bool = False
) -> Position | None:
    """An optional position field: ``"PT5S"``, ``"10%"``, ``"30"`` (frames) or ``"{Best}"``."""
    value = obj.get(key)
    if value is None:
        return None
    text = str(value).strip()
    where = f"{path}.{key}"
    if text.lower() == "{best}":
        if not allow_best:
            raise fail(where, "does not accept {Best}")
        return Position("best")
    if text.endswith("%"):
        number = text[:-1].strip()
        if not _NUMBER.match(number) or float(number) > 100:
            raise fail(where, f"must be a percentage between 0% and 100%, got {value!r}")
        return Position("percent", float(number))
    if _NUMBER.match(text):
        return Position("frames", float(text))
    if text.upper().startswith("P") or ":" in text:
        return Position("seconds", parse_duration_seconds(text, where))
    raise fail(where, f"must be an ISO-8601 duration, a frame count or a percentage, got {value!r}")


def parse_frame_rate(obj: Mapping[str, Any], key: str, path: str) -> Fraction | None:
    """An optional frame rate: ``"30000/1001"``, ``"29.97"`` or ``"25"``; ``"0/1"`` means source."""
    value = obj.get(key)
    if value is None:
        return None
    try:
        rate = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise fail(
            f"{path}.{key}", f"must be a frame rate like '30000/1001' or '25', got {value!r}"
        ) from None
    if rate == 0:
        return None
    if rate < 0 or rate > 240:
        raise fail(f"{path}.{key}", f"must be between 0 and 240 frames per second, got {value!r}")
    # '29.97' means NTSC 30000/1001, as encoders understand it.
    return rate.limit_denominator(1001)


def parse_color(text: str, path: str) -> str:
    """A color ffmpeg understands: a CSS name, ``#RRGGBB``, ``0xRRGGBB`` or ``rgb(r,g,b)``.

    Only letters, digits and a ``#``/``0x`` prefix pass, so the value is safe to
    put in a filtergraph.
    """
    rgb = _CSS_RGB.match(text.strip())
    if rgb:
        channels = [int(c) for c in rgb.groups()]
        if any(c > 255 for c in channels):
            raise fail(path, f"has an rgb() channel above 255: {text!r}")
        return "0x" + "".join(f"{c:02X}" for c in channels)
    if not _COLOR.match(text.strip()):
        raise fail(path, f"must be a color name, '#RRGGBB' or 'rgb(r,g,b)', got {text!r}")
    return text.strip()
