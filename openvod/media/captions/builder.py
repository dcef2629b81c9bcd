"""Build readable cues from word timings.

A cue holds at most ``max_lines`` lines of at most ``max_line_chars`` characters
and lasts at most ``max_duration_seconds``. A new cue starts after a sentence
ends, after a pause, and when the next word would break a limit; a long
sentence is preferably broken after a comma. Cues never overlap, and each lasts
at least ``min_duration_seconds`` unless the next one starts sooner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from openvod.media.captions.cues import Cue

SENTENCE_ENDINGS = (".", "?", "!", "…", "。", "？", "！")
CLAUSE_ENDINGS = (",", ";", ":", "，", "、")
_CLOSERS = "\"')]}”’»"


@dataclass(frozen=True)
class TimedWord:
    """A word (with its punctuation) spoken from ``start_seconds`` to ``end_seconds``."""

    text: str
    start_seconds: float
    end_seconds: float


@dataclass(frozen=True)
class CueLimits:
    """What makes a cue readable (the defaults follow common broadcast guidelines)."""

    max_lines: int = 2
    max_line_chars: int = 42
    max_duration_seconds: float = 7.0
    min_duration_seconds: float = 1.0
    pause_seconds: float = 0.7


def build_cues(words: Sequence[TimedWord], limits: CueLimits = CueLimits()) -> list[Cue]:
    """Group ``words`` (in speaking order) into cues within ``limits``."""
    groups: list[list[TimedWord]] = []
    for word in _normalise(words, limits):
        if groups and not _must_break(groups[-1], word, limits):
            groups[-1].append(word)
        else:
            groups.append([word])
    return _timed(groups, limits)


def wrap_lines(words: Sequence[str], max_line_chars: int) -> list[str]:
    """Wrap ``words`` into lines of at most ``max_line_chars``; two lines are balanced.

    A single word longer than the limit gets a line of its own.
    """
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= max_line_chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) != 2:
        return lines
    best = lines
    for cut in range(1, len(words)):
        first, second = " ".join(words[:cut]), " ".join(words[cut:])
        fits = len(first) <= max_line_chars and len(second) <= max_line_chars
        if fits and max(len(first), len(second)) < max(len(best[0]), len(best[1])):
            best = [first, second]
    return best


def _normalise(words: Sequence[TimedWord], limits: CueLimits) -> list[TimedWord]:
    """Strip words, drop empty ones, order by start, and cut words longer than a line."""
    result: list[TimedWord] = []
    ordered = sorted(words, key=lambda w: w.start_seconds)
    for word in ordered:
        text = " ".join(word.text.split())
        if not text:
            continue
        start = max(0.0, word.start_seconds)
        end = max(start, word.end_seconds)
        for piece in text.split(" "):
            result.extend(_cut_long(piece, start, end, limits.max_line_chars))
    return result


def _cut_long(text: str, start: float, end: float, max_chars: int) -> list[TimedWord]:
    if len(text) <= max_chars:
        return [TimedWord(text, start, end)]
    pieces = [text[i : i + max_chars] for i in range(0, len(text), max_chars)]
    step = (end - start) / len(pieces)
    return [
        TimedWord(piece, start + i * step, start + (i + 1) * step) for i, piece in enumerate(pieces)
    ]


def _ends_with(text: str, endings: tuple[str, ...]) -> bool:
    return text.rstrip(_CLOSERS).endswith(endings)


def _must_break(group: list[TimedWord], word: TimedWord, limits: CueLimits) -> bool:
    """Whether ``word`` starts a new cue instead of joining ``group``."""
    previous = group[-1]
    if _ends_with(previous.text, SENTENCE_ENDINGS):
        return True
    if word.start_seconds - previous.end_seconds >= limits.pause_seconds:
        return True
    if word.end_seconds - group[0].start_seconds > limits.max_duration_seconds:
        return True
    texts = [w.text for w in group] + [word.text]
    if len(wrap_lines(texts, limits.max_line_chars)) > limits.max_lines:
        return True
    # Past one full line, a clause boundary is a better place to break than mid-clause.
    chars = sum(len(w.text) + 1 for w in group)
    return chars > limits.max_line_chars and _ends_with(previous.text, CLAUSE_ENDINGS)


def _timed(groups: list[list[TimedWord]], limits: CueLimits) -> list[Cue]:
    """Cues with times in whole milliseconds: starts strictly increase, ends never overlap."""
    starts_ms: list[int] = []
    for group in groups:
        start_ms = round(group[0].start_seconds * 1000)
        if starts_ms:
            start_ms = max(start_ms, starts_ms[-1] + 1)
        starts_ms.append(start_ms)
    min_ms = round(limits.min_duration_seconds * 1000)
    max_ms = round(limits.max_duration_seconds * 1000)
    cues = []
    for index, group in enumerate(groups):
        start_ms = starts_ms[index]
        end_ms = max(round(group[-1].end_seconds * 1000), start_ms + min_ms)
        end_ms = min(end_ms, start_ms + max_ms)
        if index + 1 < len(groups):
            end_ms = min(end_ms, starts_ms[index + 1])
        lines = wrap_lines([w.text for w in group], limits.max_line_chars)
        cues.append(Cue(start_ms / 1000, end_ms / 1000, tuple(lines)))
    return cues
