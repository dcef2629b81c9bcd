"""Output file names from AMS ``filenamePattern`` macros.

Macros (as AMS documented them):

``{Basename}``
    the input file's base name, cut to its first 32 characters;
``{Extension}``
    the format's extension *with* the dot (AMS's own sample pattern is
    ``Video-{Basename}-{Label}-{Bitrate}{Extension}``): ``.mp4``, ``.ts``,
    ``.png``, ``.jpg``;
``{Label}``
    the label of the file's video layer, else of its audio codec, else of the
    image layer;
``{Bitrate}``
    kbps of the file's video layer, else of its audio (not for thumbnails);
``{Codec}``
    ``H264``, ``AACLC`` (or the copied stream's codec);
``{Resolution}``
    ``WIDTHxHEIGHT`` of the video or image;
``{AudioStream}``
    ``Audio`` and the audio's number in the file, from 1;
``{Index}``
    the thumbnail's number, from 1, six digits (``000001``).

A macro without a value here (``{Bitrate}`` of a thumbnail, ``{Label}`` of an
unlabelled layer, or an unknown macro) is removed together with one
separator next to it, so ``Video-{Basename}-{Label}-{Bitrate}`` without a label
gives ``Video-clip-1000``, not ``Video-clip--1000``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

BASENAME_MAX_CHARS = 32
INDEX_DIGITS = 6
_MACRO = re.compile(r"\{([A-Za-z]+)\}")
_SEPARATORS = "-_. "
# Characters that cannot appear in a blob or file name component.
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


def shorten_basename(name: str) -> str:
    """The ``{Basename}`` value: the stem cut to 32 characters, path-unsafe characters replaced."""
    return _UNSAFE.sub("_", name)[:BASENAME_MAX_CHARS]


def format_index(index: int) -> str:
    """The ``{Index}`` value: 1 → ``000001``."""
    return f"{index:0{INDEX_DIGITS}d}"


def expand_pattern(pattern: str, values: Mapping[str, str]) -> str:
    """Replace the macros in ``pattern`` with ``values`` (macro name → text, no braces).

    Macros are matched case-insensitively. An empty or unknown macro vanishes
    with one adjacent separator. The result is a finished file name.
    """
    lowered = {key.lower(): value for key, value in values.items()}
    out = ""
    skip_separator = False
    position = 0
    for match in _MACRO.finditer(pattern):
        literal = pattern[position : match.start()]
        out += literal[1:] if skip_separator and literal[:1] in _SEPARATORS else literal
        skip_separator = False
        value = lowered.get(match.group(1).lower(), "")
        rest = pattern[match.end() :]
        if value:
            out += _UNSAFE.sub("_", value)
        elif out and out[-1] in _SEPARATORS and (rest[:1] in _SEPARATORS or _at_end(rest)):
            out = out[:-1]
        elif not out:
            skip_separator = True
        position = match.end()
    tail = pattern[position:]
    out += tail[1:] if skip_separator and tail[:1] in _SEPARATORS else tail
    return out.strip() or "output"


def _at_end(rest: str) -> bool:
    """Whether only the extension (or nothing) follows a macro."""
    return not rest or rest.startswith(".") or rest.lower().startswith("{extension}")
