"""SAMI (.smi, Microsoft Synchronized Accessible Media Interchange)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from openvod.media.captions.cues import Cue, escape_text


def sami_class(language: str) -> str:
    """The caption class name for ``language``: ``en-US`` -> ``ENUSCC`` (the usual convention)."""
    return re.sub(r"[^A-Za-z0-9]", "", language).upper() + "CC"


def build_sami(cues: Sequence[Cue], language: str, title: str = "Transcript") -> str:
    """A SAMI document: a ``<SYNC>`` per cue start, and a blank one where a cue ends early.

    SAMI has no end times: a cue lasts until the next ``<SYNC>``, so a cue that ends
    before the next one starts is followed by a ``<SYNC>`` holding ``&nbsp;``.
    """
    klass = sami_class(language)
    syncs = []
    for index, cue in enumerate(cues):
        text = "<br>".join(escape_text(line) for line in cue.lines)
        syncs.append(_sync(cue.start_seconds, klass, text))
        next_start = cues[index + 1].start_seconds if index + 1 < len(cues) else None
        if next_start is None or round(next_start * 1000) > round(cue.end_seconds * 1000):
            syncs.append(_sync(cue.end_seconds, klass, "&nbsp;"))
    return (
        "<SAMI>\n<HEAD>\n"
        f"<TITLE>{escape_text(title)}</TITLE>\n"
        '<STYLE TYPE="text/css">\n<!--\n'
        "P { margin-left: 1pt; margin-right: 1pt; margin-bottom: 2pt; margin-top: 2pt;\n"
        "    text-align: center; font-size: 10pt; font-family: Arial; color: white; }\n"
        f".{klass} {{ Name: {language}; lang: {language}; SAMIType: CC; }}\n"
        "-->\n</STYLE>\n</HEAD>\n<BODY>\n"
        + "".join(syncs)
        + "</BODY>\n</SAMI>\n"
    )


def _sync(seconds: float, klass: str, html: str) -> str:
    return f"<SYNC Start={max(0, round(seconds * 1000))}>\n  <P Class={klass}>{html}</P>\n</SYNC>\n"
