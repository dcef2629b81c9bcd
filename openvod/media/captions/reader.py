"""Reading caption files back into cues: WebVTT and TTML (pure: text in, cues out).

The origin reads the text tracks of an asset with these to cut WebVTT segments
for HLS. Cues keep their payload as written (WebVTT markup and character
references included) in :attr:`RawCue.payload`; TTML text is escaped into it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from openvod.errors import MediaError
from openvod.media.captions.cues import escape_text

_TIMING = re.compile(
    r"^\s*((?:\d+:)?\d{1,2}:\d{2}\.\d{3})\s+-->\s+((?:\d+:)?\d{1,2}:\d{2}\.\d{3})(.*)$"
)
_TTML_CLOCK = re.compile(r"^(\d+):(\d{2}):(\d{2})(?:\.(\d+))?$")
_TTML_OFFSET = re.compile(r"^(\d+(?:\.\d+)?)(h|m|s|ms)$")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
TT = "{http://www.w3.org/ns/ttml}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class RawCue:
    """A cue as a WebVTT payload: ``payload`` lines are WebVTT cue text, ready to write."""

    start_seconds: float
    end_seconds: float
    payload: tuple[str, ...]
    settings: str = ""


def vtt_seconds(clock: str) -> float:
    """``[HH:]MM:SS.mmm`` as seconds."""
    parts = clock.split(":")
    seconds = float(parts[-1]) + 60 * int(parts[-2])
    return seconds + (3600 * int(parts[0]) if len(parts) == 3 else 0)


def parse_webvtt(text: str) -> list[RawCue]:
    """The cues of a WebVTT file in file order; MediaError if it is not WebVTT."""
    body = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not body.startswith("WEBVTT") or (len(body) > 6 and body[6] not in " \t\n"):
        raise MediaError("not a WebVTT file: it must start with 'WEBVTT'")
    cues: list[RawCue] = []
    for block in body.split("\n\n")[1:]:
        lines = block.strip("\n").split("\n")
        for at, line in enumerate(lines):
            match = _TIMING.match(line)
            if match:
                start, end = vtt_seconds(match.group(1)), vtt_seconds(match.group(2))
                payload = tuple(t for t in lines[at + 1:] if t.strip())
                if end > start:
                    cues.append(RawCue(start, end, payload, match.group(3).strip()))
                break
    return cues


def ttml_seconds(value: str, frame_rate: float = 30.0) -> float:
    """A TTML time expression (clock time, or an offset in h/m/s/ms/f) as seconds."""
    value = value.strip()
    match = _TTML_CLOCK.match(value)
    if match:
        hours, minutes, seconds, fraction = match.groups()
        return (int(hours) * 3600 + int(minutes) * 60 + int(seconds)
                + (float("0." + fraction) if fraction else 0.0))
    frames = re.match(r"^(\d+):(\d{2}):(\d{2}):(\d+)$", value)
    if frames:
        hours, minutes, seconds, count = (int(g) for g in frames.groups())
        return hours * 3600 + minutes * 60 + seconds + count / frame_rate
    offset = _TTML_OFFSET.match(value)
    if offset:
        return float(offset.group(1)) * _UNITS[offset.group(2)]
    if value.endswith("f") and value[:-1].isdigit():
        return int(value[:-1]) / frame_rate
    raise MediaError(f"not a TTML time expression: {value!r}")


def _ttml_lines(paragraph: ET.Element) -> tuple[str, ...]:
    lines, current = [], [paragraph.text or ""]
    for child in paragraph:
        if child.tag == TT + "br":
            lines.append("".join(current))
            current = []
        else:
            current.append("".join(child.itertext()))
        current.append(child.tail or "")
    lines.append("".join(current))
    return tuple(escape_text(" ".join(t.split())) for t in lines if t.strip())


def parse_ttml(text: str | bytes) -> tuple[str | None, list[RawCue]]:
    """The ``xml:lang`` and the timed paragraphs of a TTML document (``begin`` with ``end``
    or ``dur``); MediaError if it is not TTML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise MediaError(f"not a TTML file: {exc}") from None
    if root.tag != TT + "tt":
        raise MediaError("not a TTML file: the root must be <tt> in the TTML namespace")
    cues = []
    for paragraph in root.iter(TT + "p"):
        begin, end, dur = (paragraph.get(a) for a in ("begin", "end", "dur"))
        if begin is None or (end is None and dur is None):
            continue
        start = ttml_seconds(begin)
        stop = ttml_seconds(end) if end is not None else start + ttml_seconds(dur or "0s")
        lines = _ttml_lines(paragraph)
        if stop > start and lines:
            cues.append(RawCue(start, stop, lines))
    return root.get(XML_LANG), cues
