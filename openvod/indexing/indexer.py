"""Index one media file: audio -> speech engine -> captions, transcript and keywords."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openvod.encoding.probe import probe
from openvod.errors import NoAudioError
from openvod.indexing.audio import read_audio_windows
from openvod.indexing.insights import render_outputs, write_outputs
from openvod.indexing.keywords import Keyword, extract_keywords
from openvod.indexing.languages import Language, resolve_language
from openvod.indexing.speech import Segment, SpeechEngine
from openvod.media.captions import CueLimits

log = logging.getLogger(__name__)

Progress = Callable[[float], None]
"""Called with the percentage done (0-100)."""


@dataclass(frozen=True)
class IndexResult:
    """What :func:`index_media` produced."""

    language: Language
    duration_seconds: float
    segments: tuple[Segment, ...]
    keywords: tuple[Keyword, ...]
    files: tuple[Path, ...]


def index_media(input_path: Path, output_dir: Path, engine: SpeechEngine,
                language: str | None = None, progress: Progress | None = None, *,
                cancel: threading.Event | None = None, window_seconds: float = 30.0,
                limits: CueLimits = CueLimits()) -> IndexResult:
    """Transcribe ``input_path`` and write transcript.vtt/.ttml/.smi/.srt and insights.json.

    ``language`` is the AMS ``audioLanguage`` (None: en-US). Raises NoAudioError for
    an input without audio, UnsupportedLanguageError for a language the engine's model
    cannot transcribe, MediaError for an unreadable input. Silence gives empty captions
    and an empty transcript.
    """
    report = progress or (lambda _percent: None)
    info = probe(input_path)
    if not info.has_audio:
        raise NoAudioError(f"The input '{input_path.name}' has no audio track to index")
    chosen = resolve_language(language, engine.languages, engine.model_name)
    duration = info.duration_seconds or (info.audio.duration_seconds if info.audio else 0) or 0
    report(0.0)
    segments = transcribe_windows(input_path, engine, chosen.code, duration, report,
                                  cancel=cancel, window_seconds=window_seconds)
    words = [word for segment in segments for word in segment.words]
    keywords = extract_keywords(words, chosen.code)
    files = render_outputs(segments, keywords, duration, chosen.tag, engine.model_name, limits)
    written = write_outputs(output_dir, files)
    report(100.0)
    log.info("indexed %s: %d segments, %d words, %d keywords", input_path.name, len(segments),
             len(words), len(keywords))
    return IndexResult(chosen, duration, tuple(segments), tuple(keywords), tuple(written))


def transcribe_windows(input_path: Path, engine: SpeechEngine, code: str,
                       duration_seconds: float, report: Progress, *,
                       cancel: threading.Event | None = None,
                       window_seconds: float = 30.0) -> list[Segment]:
    """Transcribe the audio window by window; segment times are in the input's time line."""
    segments: list[Segment] = []
    for window in read_audio_windows(input_path, window_seconds=window_seconds, cancel=cancel):
        for segment in engine.transcribe(window.samples, code):
            segments.append(segment.shifted(window.offset_seconds))
        if duration_seconds > 0:
            # 99 at most: writing the outputs is the last step.
            report(min(99.0, 100.0 * window.end_seconds / duration_seconds))
    return segments
