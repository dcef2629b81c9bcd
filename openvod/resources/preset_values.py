"""The string-encoded values of AMS presets: sizes, positions, frame rates, colors.

The SDK sends these as strings (``"1280"``, ``"50%"``, ``"PT5S"``, ``"{Best}"``,
``"30000/1001"``, ``"rgb(255,0,0)"``). Each parser takes the text and returns a
typed value or raises ``ValueError`` saying what the text should look like;
the preset models use them to validate, the encoder to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from openvod.clock import parse_duration

_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_CSS_RGB = re.compile(r"^rgb\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*\)$", re.IGNORECASE)
_COLOR = re.compile(r"^(?:#|0x)?[0-9A-Za-z]{1,32}$")
MAX_FRAME_RATE = 240
MAX_PIXELS = 16384  # beyond any H.264 level; keeps a typo from reaching the encoder


@dataclass(frozen=True)
class Dimension:
    """A width or height: absolute pixels (``"1280"``) or a share of the source (``"50%"``)."""

    value: float
    is_percent: bool = False

    def resolve(self, source_px: int) -> float:
        """The size in pixels (unrounded) for a source dimension of ``source_px``."""
        return source_px * self.value / 100.0 if self.is_percent else self.value


def parse_dimension(text: str, *, allow_zero: bool = False) -> Dimension:
    """Pixels or a percentage; ``allow_zero`` for offsets (a crop's left and top)."""
    cleaned = text.strip()
    is_percent = cleaned.endswith("%")
    number = cleaned[:-1].strip() if is_percent else cleaned
    if not _NUMBER.match(number) or float(number) < (0 if allow_zero else 1e-9):
        raise ValueError(f"must be pixels ('1280') or a percentage ('50%'), got {text!r}")
    if is_percent and float(number) > 100:
        raise ValueError(f"must not exceed 100%, got {text!r}")
    if not is_percent and float(number) > MAX_PIXELS:
        raise ValueError(f"must not exceed {MAX_PIXELS} pixels, got {text!r}")
    return Dimension(float(number), is_percent)


def parse_offset(text: str) -> Dimension:
    """A crop offset: pixels or a percentage, zero allowed."""
    return parse_dimension(text, allow_zero=True)


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


def parse_position(text: str, *, allow_best: bool = False) -> Position:
    """``"PT5S"`` (a duration), ``"10%"``, ``"30"`` (frames) or, where allowed, ``"{Best}"``."""
    cleaned = text.strip()
    if cleaned.lower() == "{best}":
        if not allow_best:
            raise ValueError("does not accept {Best}")
        return Position("best")
    if cleaned.endswith("%"):
        number = cleaned[:-1].strip()
        if not _NUMBER.match(number) or float(number) > 100:
            raise ValueError(f"must be a percentage between 0% and 100%, got {text!r}")
        return Position("percent", float(number))
    if _NUMBER.match(cleaned):
        return Position("frames", float(cleaned))
    if cleaned.upper().startswith("P") or ":" in cleaned:
        try:
            return Position("seconds", parse_duration(cleaned).total_seconds())
        except ValueError:
            pass
    raise ValueError(f"must be an ISO 8601 duration, a frame count or a percentage, got {text!r}")


def parse_start(text: str) -> Position:
    """A thumbnail start: any position, or ``{Best}``."""
    return parse_position(text, allow_best=True)


def parse_frame_rate(text: str) -> Fraction | None:
    """``"30000/1001"``, ``"29.97"`` or ``"25"``; ``"0/1"`` (or 0) means the source's rate."""
    try:
        rate = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"must be a frame rate like '30000/1001' or '25', got {text!r}") from None
    if rate == 0:
        return None
    if rate < 0 or rate > MAX_FRAME_RATE:
        raise ValueError(f"must be between 0 and 240 frames per second, got {text!r}")
    # '29.97' means NTSC 30000/1001, as encoders understand it.
    return rate.limit_denominator(1001)


def parse_color(text: str) -> str:
    """A color ffmpeg understands: a CSS name, ``#RRGGBB``, ``0xRRGGBB`` or ``rgb(r,g,b)``.

    Only letters, digits and a ``#``/``0x`` prefix pass, so the value is safe to
    put in a filtergraph.
    """
    rgb = _CSS_RGB.match(text.strip())
    if rgb:
        channels = [int(c) for c in rgb.groups()]
        if any(c > 255 for c in channels):
            raise ValueError(f"has an rgb() channel above 255: {text!r}")
        return "0x" + "".join(f"{c:02X}" for c in channels)
    if not _COLOR.match(text.strip()):
        raise ValueError(f"must be a color name, '#RRGGBB' or 'rgb(r,g,b)', got {text!r}")
    return text.strip()


def parse_level(text: str) -> str | None:
    """An H.264 level such as ``"3.1"``; ``"auto"`` (None) lets x264 pick."""
    if text.lower() == "auto":
        return None
    try:
        if 1.0 <= float(text) <= 6.2:
            return text
    except ValueError:
        pass
    raise ValueError(f"must be 'auto' or an H.264 level such as '3.1', got {text!r}")
