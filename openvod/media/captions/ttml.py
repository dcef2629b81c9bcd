"""TTML (W3C Timed Text Markup Language 1, the DFXP profile players read)."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from openvod.media.captions.cues import Cue, clock_time, escape_text

TTML_NS = "http://www.w3.org/ns/ttml"
TTML_PARAMETER_NS = "http://www.w3.org/ns/ttml#parameter"
TTML_STYLING_NS = "http://www.w3.org/ns/ttml#styling"


def build_ttml(cues: Sequence[Cue], language: str) -> str:
    """A TTML1 document: one ``<p begin end>`` per cue, lines split by ``<br/>``.

    ``language`` (BCP 47, e.g. ``en-US``) becomes the root's ``xml:lang``.
    """
    paragraphs = []
    for number, cue in enumerate(cues, start=1):
        lines = "<br/>".join(escape_text(line) for line in cue.lines)
        paragraphs.append(
            f'      <p xml:id="c{number}" begin="{clock_time(cue.start_seconds)}"'
            f' end="{clock_time(cue.end_seconds)}">{lines}</p>'
        )
    body = "\n".join(paragraphs)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<tt xmlns="{TTML_NS}" xmlns:ttp="{TTML_PARAMETER_NS}" xmlns:tts="{TTML_STYLING_NS}"'
        f' ttp:timeBase="media" xml:lang={quoteattr(language)}>\n'
        "  <head>\n"
        "    <styling>\n"
        '      <style xml:id="s1" tts:textAlign="center" tts:color="white"/>\n'
        "    </styling>\n"
        "  </head>\n"
        '  <body style="s1">\n'
        "    <div>\n"
        f"{body}\n"
        "    </div>\n"
        "  </body>\n"
        "</tt>\n"
    )
