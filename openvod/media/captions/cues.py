"""The cue: a few lines of text shown from one time to another."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    """A caption shown from ``start_seconds`` to ``end_seconds`` (end > start).

    ``lines`` are shown one under the other; they hold plain text (writers escape it).
    """

    start_seconds: float
    end_seconds: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The lines joined by a space."""
        return " ".join(self.lines)

    @property
    def duration_seconds(self) -> float:
        """How long the cue is shown."""
        return self.end_seconds - self.start_seconds


def split_millis(seconds: float) -> tuple[int, int, int, int]:
    """``seconds`` as (hours, minutes, seconds, milliseconds), rounded to the millisecond."""
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return hours, minutes, secs, millis


def clock_time(seconds: float, separator: str = ".") -> str:
    """``HH:MM:SS.mmm``; ``separator`` is '.' for WebVTT and TTML, ',' for SubRip."""
    hours, minutes, secs, millis = split_millis(seconds)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def escape_text(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` as character references (WebVTT, TTML, SAMI, SRT)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
