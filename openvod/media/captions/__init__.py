"""Captions: a cue model, a cue builder from word timings, and caption file writers.

Pure: values in, text out. The writers produce WebVTT (:func:`build_webvtt`),
W3C TTML1 (:func:`build_ttml`), SAMI (:func:`build_sami`) and SubRip
(:func:`build_srt`) from the same list of :class:`Cue`.
"""

from openvod.media.captions.builder import CueLimits, TimedWord, build_cues, wrap_lines
from openvod.media.captions.cues import Cue
from openvod.media.captions.sami import build_sami
from openvod.media.captions.srt import build_srt
from openvod.media.captions.ttml import build_ttml
from openvod.media.captions.webvtt import build_webvtt

__all__ = [
    "Cue",
    "CueLimits",
    "TimedWord",
    "build_cues",
    "build_sami",
    "build_srt",
    "build_ttml",
    "build_webvtt",
    "wrap_lines",
]
