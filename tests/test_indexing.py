"""Indexing with the real default model (bundled Whisper tiny.en) on the committed speech fixture.

tests/fixtures/speech.mp4 holds five sentences synthesised with espeak-ng (see
scripts/make-speech-fixture.sh); tests/fixtures/speech.json their text and exact start times.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jiwer
import pytest
import webvtt

from openvod.errors import SpeechModelError, UnsupportedLanguageError
from openvod.indexing import IndexResult, WhisperEngine, index_media
from openvod.media.captions.ttml import TTML_NS
from tests.indexing_support import (
    FIXTURES,
    clock_millis,
    make_silence,
    normalise_text,
    read_with_ffmpeg,
    run_ffmpeg,
)

FIXTURE = FIXTURES / "speech.mp4"
KNOWN = json.loads((FIXTURES / "speech.json").read_text())
MAX_WER = 0.25
MAX_START_ERROR_SECONDS = 1.5


@pytest.fixture(scope="session")
def engine() -> WhisperEngine:
    """The engine the in-process worker uses too (the model loads once per test session)."""
    from openvod.worker.indexing import speech_engine

    found = speech_engine(None)
    assert isinstance(found, WhisperEngine)
    return found


@dataclass
class Indexed:
    result: IndexResult
    out: Path
    progress: list[float]

    def text(self, name: str) -> str:
        return (self.out / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def indexed(engine: WhisperEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    out = tmp_path_factory.mktemp("indexed")
    progress: list[float] = []
    result = index_media(FIXTURE, out, engine, "en-US", progress.append)
    yield Indexed(result, out, progress)


def test_fixture_is_small() -> None:
    assert FIXTURE.stat().st_size < 400_000


def test_word_error_rate_against_the_known_text(indexed: Indexed) -> None:
    reference = normalise_text(" ".join(s["text"] for s in KNOWN["sentences"]))
    cues = webvtt.from_string(indexed.text("transcript.vtt"))
    hypothesis = normalise_text(" ".join(c.text for c in cues))
    assert hypothesis, "empty transcript"
    assert jiwer.wer(reference, hypothesis) <= MAX_WER, hypothesis


def test_a_cue_starts_near_each_sentence(indexed: Indexed) -> None:
    cues = webvtt.from_string(indexed.text("transcript.vtt"))
    starts = [clock_millis(c.start) / 1000 for c in cues]
    for sentence in KNOWN["sentences"]:
        nearest = min(starts, key=lambda s: abs(s - sentence["startSeconds"]))
        assert abs(nearest - sentence["startSeconds"]) <= MAX_START_ERROR_SECONDS, (
            sentence, starts)


def test_webvtt_cues_are_readable(indexed: Indexed) -> None:
    cues = list(webvtt.from_string(indexed.text("transcript.vtt")))
    assert len(cues) >= len(KNOWN["sentences"])
    for cue, following in zip(cues, cues[1:], strict=False):
        assert cue.end <= following.start
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines)


def test_ttml_is_ttml(indexed: Indexed) -> None:
    root = ET.fromstring(indexed.text("transcript.ttml"))
    assert root.tag == f"{{{TTML_NS}}}tt"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-US"
    paragraphs = root.findall(f".//{{{TTML_NS}}}p")
    assert len(paragraphs) == len(webvtt.from_string(indexed.text("transcript.vtt")))
    assert "weather" in " ".join("".join(p.itertext()) for p in paragraphs).lower()


def test_sami_and_srt_parse_with_the_same_cues(indexed: Indexed, tmp_path: Path) -> None:
    vtt = [(clock_millis(c.start), clock_millis(c.end), c.text)
           for c in webvtt.from_string(indexed.text("transcript.vtt"))]
    sami = read_with_ffmpeg(indexed.text("transcript.smi"), ".smi", tmp_path)
    srt = read_with_ffmpeg(indexed.text("transcript.srt"), ".srt", tmp_path)
    assert len(vtt) >= len(KNOWN["sentences"])
    assert sami == srt == vtt


def test_insights_has_transcript_keywords_and_words(indexed: Indexed) -> None:
    insights = json.loads(indexed.text("insights.json"))
    assert insights["sourceLanguage"] == "en-US"
    assert insights["duration"].startswith("0:00:21.")
    transcript = insights["transcript"]
    assert len(transcript) >= len(KNOWN["sentences"])
    for entry in transcript:
        assert set(entry) >= {"id", "text", "confidence", "speakerId", "language", "instances"}
        instance = entry["instances"][0]
        assert set(instance) == {"adjustedStart", "adjustedEnd", "start", "end"}
        assert instance["start"] < instance["end"]
    assert any("weather" in e["text"].lower() for e in transcript)
    keywords = insights["keywords"]
    assert keywords and all(k["instances"] for k in keywords)
    weather = next(k for k in keywords if "weather" in k["text"])
    start = weather["instances"][0]["start"]
    assert "0:00:08." <= start <= "0:00:10."  # said in the third sentence, at 8.45 s
    assert len(insights["words"]) >= 40


def test_progress_reported(indexed: Indexed) -> None:
    assert indexed.progress[0] == 0 and indexed.progress[-1] == 100
    assert indexed.progress == sorted(indexed.progress)


def test_en_gb_uses_the_english_model(engine: WhisperEngine, tmp_path: Path) -> None:
    result = index_media(FIXTURE, tmp_path, engine, "en-GB")
    assert result.language.tag == "en-GB" and result.language.code == "en"
    assert "weather" in " ".join(s.text for s in result.segments).lower()
    assert 'xml:lang="en-GB"' in (tmp_path / "transcript.ttml").read_text()


def test_french_with_an_english_only_model_is_a_clear_error(engine: WhisperEngine,
                                                             tmp_path: Path) -> None:
    with pytest.raises(UnsupportedLanguageError) as caught:
        index_media(FIXTURE, tmp_path / "out", engine, "fr-FR")
    assert "fr-FR" in str(caught.value) and "OPENVOD_SPEECH_MODEL" in str(caught.value)


def test_silence_gives_an_empty_transcript(engine: WhisperEngine, tmp_path: Path) -> None:
    source = make_silence(tmp_path / "silence.mp4", 8)
    result = index_media(source, tmp_path / "out", engine, None)
    assert result.segments == ()
    assert webvtt.from_string((tmp_path / "out" / "transcript.vtt").read_text()).captions == []
    insights = json.loads((tmp_path / "out" / "insights.json").read_text())
    assert insights["transcript"] == [] and insights["keywords"] == []


def test_missing_model_is_a_clear_error_not_a_download(tmp_path: Path) -> None:
    empty = tmp_path / "model"
    empty.mkdir()
    with pytest.raises(SpeechModelError, match="no model.bin"):
        WhisperEngine(empty)
    engine = WhisperEngine("openvod-test/no-such-whisper-model")
    with pytest.raises(SpeechModelError, match="never downloaded"):
        _ = engine.languages


def test_short_windows_neither_lose_nor_repeat_words(engine: WhisperEngine,
                                                     tmp_path: Path) -> None:
    # 8-s windows cut the 21-s fixture three times, in the pauses between sentences.
    result = index_media(FIXTURE, tmp_path, engine, "en-US", window_seconds=8)
    reference = normalise_text(" ".join(s["text"] for s in KNOWN["sentences"]))
    hypothesis = normalise_text(" ".join(s.text for s in result.segments))
    assert jiwer.wer(reference, hypothesis) <= MAX_WER, hypothesis
    starts = [w.start_seconds for s in result.segments for w in s.words]
    assert starts == sorted(starts)


def test_engine_transcribes_a_wav_path(engine: WhisperEngine, tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    run_ffmpeg("-i", str(FIXTURE), "-vn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le",
               str(wav))
    segments = engine.transcribe(wav, "en")
    text = normalise_text(" ".join(s.text for s in segments))
    assert "weather is sunny" in text
    assert all(w.start_seconds <= w.end_seconds for s in segments for w in s.words)
