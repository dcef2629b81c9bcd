"""Indexing: speech to captions, a word-timed transcript and keywords.

Above ``openvod.media`` (the caption writers) and ``openvod.encoding`` (ffmpeg,
ffprobe), below the services and the worker, which call :func:`index_media`.
"""

from openvod.indexing.indexer import IndexResult, index_media
from openvod.indexing.insights import OUTPUT_NAMES
from openvod.indexing.languages import DEFAULT_LANGUAGE, Language, resolve_language
from openvod.indexing.speech import (
    FakeSpeechEngine,
    Segment,
    SpeechEngine,
    WhisperEngine,
    Word,
)

__all__ = [
    "DEFAULT_LANGUAGE",
    "OUTPUT_NAMES",
    "FakeSpeechEngine",
    "IndexResult",
    "Language",
    "Segment",
    "SpeechEngine",
    "WhisperEngine",
    "Word",
    "index_media",
    "resolve_language",
]
