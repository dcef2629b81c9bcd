"""The indexing outputs: captions in four formats and ``insights.json``.

``insights.json`` follows the shape of the AMS / Video Indexer insights: a
``transcript`` list (id, text, confidence, speakerId, language, instances), a
``keywords`` list (id, text, confidence, language, instances), ``duration`` and
``sourceLanguage``; times are ``H:MM:SS.fffffff`` strings as there. openvod
adds ``words`` (every word with its time) and ``speechModel``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openvod.indexing.keywords import Keyword
from openvod.indexing.speech import Segment
from openvod.media.captions import (
    CueLimits,
    TimedWord,
    build_cues,
    build_sami,
    build_srt,
    build_ttml,
    build_webvtt,
)

INSIGHTS_VERSION = "1.0.0.0"
OUTPUT_NAMES = ("transcript.vtt", "transcript.ttml", "transcript.smi", "transcript.srt",
                "insights.json")


def format_timestamp(seconds: float) -> str:
    """``H:MM:SS.fffffff`` (100 ns precision), the time format of Video Indexer insights."""
    ticks = max(0, round(seconds * 10_000_000))
    total_seconds, fraction = divmod(ticks, 10_000_000)
    hours, rest = divmod(total_seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}.{fraction:07d}"


def _instance(start: float, end: float) -> dict[str, str]:
    start_text, end_text = format_timestamp(start), format_timestamp(end)
    # No editing happens before indexing, so adjusted times equal the original ones.
    return {"adjustedStart": start_text, "adjustedEnd": end_text,
            "start": start_text, "end": end_text}


def build_insights(segments: Sequence[Segment], keywords: Sequence[Keyword],
                   duration_seconds: float, language: str,
                   model_name: str) -> dict[str, Any]:
    """The ``insights.json`` document (a JSON-ready dict)."""
    transcript: list[dict[str, Any]] = []
    words: list[dict[str, Any]] = []
    for number, segment in enumerate(segments, start=1):
        transcript.append({
            "id": number,
            "text": segment.text,
            "confidence": round(segment.confidence, 4),
            "speakerId": 1,  # no speaker diarisation: one speaker
            "language": language,
            "instances": [_instance(segment.start_seconds, segment.end_seconds)],
        })
        for word in segment.words:
            words.append({
                "id": len(words) + 1,
                "text": word.text,
                "confidence": round(word.probability, 4),
                "transcriptId": number,
                "start": format_timestamp(word.start_seconds),
                "end": format_timestamp(word.end_seconds),
            })
    keyword_items = [
        {"id": number, "text": keyword.text, "confidence": keyword.confidence,
         "language": language, "instances": [_instance(s, e) for s, e in keyword.instances]}
        for number, keyword in enumerate(keywords, start=1)
    ]
    return {
        "version": INSIGHTS_VERSION,
        "duration": format_timestamp(duration_seconds),
        "sourceLanguage": language,
        "language": language,
        "speechModel": model_name,
        "transcript": transcript,
        "keywords": keyword_items,
        "words": words,
    }


def render_outputs(segments: Sequence[Segment], keywords: Sequence[Keyword],
                   duration_seconds: float, language: str, model_name: str,
                   limits: CueLimits = CueLimits()) -> dict[str, str]:
    """The text of every output file, by file name (see OUTPUT_NAMES)."""
    timed = [TimedWord(w.text, w.start_seconds, w.end_seconds)
             for segment in segments for w in segment.words]
    cues = build_cues(timed, limits)
    insights = build_insights(segments, keywords, duration_seconds, language, model_name)
    return {
        "transcript.vtt": build_webvtt(cues),
        "transcript.ttml": build_ttml(cues, language),
        "transcript.smi": build_sami(cues, language),
        "transcript.srt": build_srt(cues),
        "insights.json": json.dumps(insights, indent=2, ensure_ascii=False) + "\n",
    }


def write_outputs(output_dir: Path, files: dict[str, str]) -> list[Path]:
    """Write ``files`` (name -> text, UTF-8) into ``output_dir``, each replaced atomically."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        target = output_dir / name
        temporary = output_dir / f".{name}.part"
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, target)
        written.append(target)
    return written
