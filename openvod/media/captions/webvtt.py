"""WebVTT (W3C WebVTT: the Web Video Text Tracks Format)."""

from __future__ import annotations

from collections.abc import Sequence

from openvod.media.captions.cues import Cue, clock_time, escape_text


def build_webvtt(cues: Sequence[Cue]) -> str:
    """A WebVTT file: the header, then one numbered cue block per cue."""
    blocks = ["WEBVTT\n"]
    for number, cue in enumerate(cues, start=1):
        timing = f"{clock_time(cue.start_seconds)} --> {clock_time(cue.end_seconds)}"
        # A blank line ends a cue, so a line that is empty after stripping is left out.
        lines = [escape_text(line) for line in cue.lines if line.strip()]
        blocks.append("\n".join([str(number), timing, *lines]) + "\n")
    return "\n".join(blocks)
