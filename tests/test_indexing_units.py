"""Indexing pieces with the fake speech engine: languages, audio windows, keywords, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openvod.errors import MediaError, NoAudioError, UnsupportedLanguageError
from openvod.indexing import OUTPUT_NAMES, FakeSpeechEngine, index_media, resolve_language
from openvod.indexing.audio import extraction_command, quietest_cut, read_audio_windows
from openvod.indexing.insights import format_timestamp
from openvod.indexing.keywords import extract_keywords
from openvod.indexing.speech import SAMPLE_RATE, Word, read_wav
from tests.indexing_support import make_bursts, make_silence, make_video_only

WHISPER_LANGUAGES = frozenset({"en", "fr", "de", "no", "he", "zh"})


@pytest.mark.parametrize(("requested", "tag", "code"), [
    (None, "en-US", "en"), ("", "en-US", "en"), ("auto", "en-US", "en"),
    ("en-US", "en-US", "en"), ("en-GB", "en-GB", "en"), ("en_au", "en-AU", "en"),
    ("EN", "en", "en"),
])
def test_english_variants_map_to_the_english_model(requested: str | None, tag: str,
                                                   code: str) -> None:
    language = resolve_language(requested, frozenset({"en"}), "tiny.en")
    assert (language.tag, language.code) == (tag, code)


def test_language_the_model_lacks_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedLanguageError) as caught:
        resolve_language("fr-FR", frozenset({"en"}), "tiny.en")
    message = str(caught.value)
    assert "'fr-FR'" in message and "tiny.en" in message and "English-only" in message
    assert "OPENVOD_SPEECH_MODEL" in message and "multilingual" in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("requested", "code"), [
    ("fr-FR", "fr"), ("de-DE", "de"), ("nb-NO", "no"), ("zh-Hans-CN", "zh"), ("iw-IL", "he")])
def test_multilingual_model_languages(requested: str, code: str) -> None:
    assert resolve_language(requested, WHISPER_LANGUAGES, "small").code == code


def test_not_a_language_tag() -> None:
    with pytest.raises(UnsupportedLanguageError, match="BCP 47"):
        resolve_language("English please", WHISPER_LANGUAGES, "small")


def test_timestamps_in_video_indexer_format() -> None:
    assert format_timestamp(0) == "0:00:00.0000000"
    assert format_timestamp(3.48) == "0:00:03.4800000"
    assert format_timestamp(3725.1234567) == "1:02:05.1234567"


def test_extraction_command_decodes_first_audio_track_to_16k_mono() -> None:
    argv = extraction_command(Path("/bin/ffmpeg"), Path("in put.mp4"))
    joined = " ".join(argv)
    assert "-map 0:a:0" in joined and "-ac 1" in joined and "-ar 16000" in joined
    assert argv[-1] == "pipe:1" and "in put.mp4" in argv


def test_quietest_cut_lands_in_the_pause() -> None:
    samples = np.full(SAMPLE_RATE * 10, 0.3, dtype=np.float32)
    samples[int(SAMPLE_RATE * 8.2): int(SAMPLE_RATE * 8.6)] = 0.0
    cut = quietest_cut(samples, SAMPLE_RATE * 7)
    assert SAMPLE_RATE * 8.2 <= cut <= SAMPLE_RATE * 8.6


def test_windows_cover_long_audio_exactly_once(tmp_path: Path) -> None:
    source = make_bursts(tmp_path / "bursts.wav", seconds=95)
    expected = read_wav(source)
    windows = list(read_audio_windows(source, window_seconds=20, search_seconds=5))
    assert len(windows) >= 5
    assert all(len(w.samples) <= 20 * SAMPLE_RATE for w in windows)
    offset = 0.0
    for window in windows:
        assert window.offset_seconds == pytest.approx(offset)
        offset = window.end_seconds
    joined = np.concatenate([w.samples for w in windows])
    assert len(joined) == len(expected)
    assert np.max(np.abs(joined - expected)) < 1e-3  # the same samples, in order
    # Cuts are made in the quiet between bursts, so no burst (word) is split in two.
    for window in windows[1:]:
        assert window.offset_seconds % 2.0 > 0.5


def test_index_media_with_fake_engine(tmp_path: Path) -> None:
    source = make_bursts(tmp_path / "bursts.wav", seconds=65)
    whole = FakeSpeechEngine().transcribe(read_wav(source), "en")
    progress: list[float] = []
    result = index_media(source, tmp_path / "out", FakeSpeechEngine(), "en-GB", progress.append,
                         window_seconds=20)
    assert sorted(p.name for p in result.files) == sorted(OUTPUT_NAMES)
    assert progress[0] == 0 and progress[-1] == 100 and progress == sorted(progress)
    assert len(progress) >= 4
    # Windowed: one word per burst, at the same times as from the whole file.
    starts = [w.start_seconds for s in result.segments for w in s.words]
    assert starts == pytest.approx([w.start_seconds for s in whole for w in s.words], abs=0.02)
    assert len(starts) == 33
    insights = json.loads((tmp_path / "out" / "insights.json").read_text())
    assert insights["sourceLanguage"] == "en-GB"
    assert len(insights["transcript"]) == 33
    assert insights["transcript"][1]["instances"][0]["start"] == "0:00:02.0000000"
    vtt = (tmp_path / "out" / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "00:00:02.000 --> " in vtt


def test_no_audio_track_is_a_clear_error(tmp_path: Path) -> None:
    source = make_video_only(tmp_path / "video.mp4")
    with pytest.raises(NoAudioError, match="has no audio track"):
        index_media(source, tmp_path / "out", FakeSpeechEngine(), None)
    assert not (tmp_path / "out").exists()


def test_not_media_is_a_media_error(tmp_path: Path) -> None:
    source = tmp_path / "notes.mp4"
    source.write_text("not a video")
    with pytest.raises(MediaError):
        index_media(source, tmp_path / "out", FakeSpeechEngine(), None)


def test_unsupported_language_fails_before_any_work(tmp_path: Path) -> None:
    source = make_silence(tmp_path / "silence.mp4", 2)
    with pytest.raises(UnsupportedLanguageError, match="fr-FR"):
        index_media(source, tmp_path / "out", FakeSpeechEngine(), "fr-FR")
    assert not (tmp_path / "out").exists()


def _words(*items: tuple[str, float]) -> list[Word]:
    return [Word(text, start, start + 0.3, 0.9) for text, start in items]


def test_keywords_rank_repeated_content_phrases_with_instances() -> None:
    words = _words(("The", 0), ("streaming", 1), ("server", 2), ("is", 3), ("fast.", 4),
                   ("We", 10), ("like", 11), ("the", 12), ("streaming", 13), ("server,", 14),
                   ("and", 15), ("it", 16), ("works.", 17))
    keywords = extract_keywords(words)
    assert keywords[0].text == "streaming server"
    assert keywords[0].confidence == 1.0
    assert keywords[0].instances == ((1, 2.3), (13, 14.3))
    texts = {k.text for k in keywords}
    assert not texts & {"the", "is", "we", "like", "and", "it"}
    assert {"fast", "works"} <= texts


def test_no_words_no_keywords() -> None:
    assert extract_keywords([]) == []
    assert extract_keywords(_words(("the", 0), ("and", 1))) == []
