"""SubRip (.srt)."""

from __future__ import annotations

from collections.abc import Sequence

from openvod.media.captions.cues import Cue, clock_time, escape_text


def build_srt(cues: Sequence[Cue]) -> str:
    """A SubRip file: numbered blocks, ``HH:MM:SS,mmm`` times, a blank line after each.

    SubRip readers treat ``<...>`` as markup (``<i>``), so text is escaped the HTML way.
    """
    blocks = []
    for number, cue in enumerate(cues, start=1):
        timing = f"{clock_time(cue.start_seconds, ',')} --> {clock_time(cue.end_seconds, ',')}"
        lines = [escape_text(line) for line in cue.lines if line.strip()]
        blocks.append("\n".join([str(number), timing, *lines]) + "\n")
    return "\n".join(blocks)
