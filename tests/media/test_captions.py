"""Cue builder limits and the four caption writers, read back by independent parsers."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import webvtt
from hypothesis import given, settings
from hypothesis import strategies as st

from openvod.media.captions import (
    Cue,
    CueLimits,
    TimedWord,
    build_cues,
    build_sami,
    build_srt,
    build_ttml,
    build_webvtt,
    wrap_lines,
)
from openvod.media.captions.ttml import TTML_NS
from tests.indexing_support import read_with_ffmpeg

XML_NS = "http://www.w3.org/XML/1998/namespace"
LIMITS = CueLimits()


def words_from(text: str, start: float = 0.0, step: float = 0.4) -> list[TimedWord]:
    """One word every ``step`` seconds, each lasting 90% of it."""
    return [TimedWord(w, start + i * step, start + i * step + step * 0.9)
            for i, w in enumerate(text.split())]


def assert_readable(cues: list[Cue], limits: CueLimits = LIMITS) -> None:
    """Every limit the builder promises."""
    for index, cue in enumerate(cues):
        assert 1 <= len(cue.lines) <= limits.max_lines, cue
        assert all(0 < len(line) <= limits.max_line_chars for line in cue.lines), cue
        assert cue.end_seconds > cue.start_seconds, cue
        assert cue.duration_seconds <= limits.max_duration_seconds + 1e-9, cue
        if index + 1 < len(cues):
            following = cues[index + 1]
            assert cue.end_seconds <= following.start_seconds, (cue, following)
            # At least the minimum duration, unless the next cue starts first.
            assert (cue.duration_seconds >= limits.min_duration_seconds - 1e-9
                    or cue.end_seconds == following.start_seconds), cue
        else:
            assert cue.duration_seconds >= limits.min_duration_seconds - 1e-9


SAMPLE = [
    Cue(0.5, 2.0, ("Fish & chips <cheap>",)),
    Cue(2.5, 4.25, ("Two lines here,", "and the second one.")),
    Cue(4.25, 6.0, ("Right after the previous cue.",)),
]


def test_sentence_end_starts_a_new_cue() -> None:
    cues = build_cues(words_from("Hello there. How are you today?"))
    assert [c.text for c in cues] == ["Hello there.", "How are you today?"]
    assert cues[0].start_seconds == 0.0
    assert cues[1].start_seconds == pytest.approx(0.8)


def test_pause_starts_a_new_cue() -> None:
    words = words_from("one two three") + words_from("four five", start=3.0)
    cues = build_cues(words)
    assert [c.text for c in cues] == ["one two three", "four five"]


def test_long_sentence_splits_into_two_line_cues_of_at_most_42_chars() -> None:
    text = ("this is a rather long sentence without any punctuation that keeps going on "
            "and on so that it cannot fit into one caption of two lines at all")
    cues = build_cues(words_from(text, step=0.2))
    assert len(cues) >= 2
    assert " ".join(c.text for c in cues) == text  # nothing lost, nothing repeated
    assert_readable(cues)
    assert any(len(c.lines) == 2 for c in cues)


def test_slow_speech_is_cut_at_seven_seconds() -> None:
    cues = build_cues(words_from("a b c d e f g h i j k l m n o p", step=0.6))
    assert len(cues) >= 2
    assert all(c.duration_seconds <= 7.0 for c in cues)
    assert_readable(cues)


def test_short_cue_lasts_the_minimum_unless_the_next_starts() -> None:
    cues = build_cues([TimedWord("Yes.", 1.0, 1.2), TimedWord("No.", 1.5, 1.7),
                       TimedWord("Maybe.", 5.0, 5.2)])
    assert [(c.start_seconds, c.end_seconds) for c in cues] == [(1.0, 1.5), (1.5, 2.5),
                                                                 (5.0, 6.0)]


def test_word_longer_than_a_line_is_cut() -> None:
    cues = build_cues([TimedWord("x" * 100, 0.0, 1.0)])
    assert "".join(c.text.replace(" ", "") for c in cues) == "x" * 100
    assert_readable(cues)


def test_two_lines_are_balanced() -> None:
    text = "the quick brown fox jumps over the lazy dog and runs away"
    lines = wrap_lines(text.split(" "), 42)
    assert lines == ["the quick brown fox jumps over", "the lazy dog and runs away"]


def test_no_words_no_cues() -> None:
    assert build_cues([]) == []
    assert build_cues([TimedWord("  ", 0, 1)]) == []
    assert build_webvtt([]) == "WEBVTT\n"


word_text = st.text(alphabet=st.sampled_from("abcdefghij.,?&<> "), min_size=1, max_size=60)


@st.composite
def timed_words(draw: st.DrawFn) -> list[TimedWord]:
    count = draw(st.integers(0, 60))
    words, clock = [], 0.0
    for _ in range(count):
        clock += draw(st.floats(0, 3))
        length = draw(st.floats(0, 10))
        words.append(TimedWord(draw(word_text), clock, clock + length))
        clock += draw(st.sampled_from([0.0, length]))
    return words


@settings(max_examples=300, deadline=None)
@given(timed_words())
def test_any_words_give_readable_non_overlapping_cues(words: list[TimedWord]) -> None:
    cues = build_cues(words)
    assert_readable(cues)
    spoken = "".join("".join(w.text.split()) for w in words)
    assert "".join(c.text.replace(" ", "") for c in cues) == spoken
    assert [c.start_seconds for c in cues] == sorted(c.start_seconds for c in cues)


def test_webvtt_parses_with_webvtt_py_and_escapes() -> None:
    text = build_webvtt(SAMPLE)
    assert "Fish &amp; chips &lt;cheap&gt;" in text
    parsed = webvtt.from_string(text)
    assert [(c.start, c.end) for c in parsed] == [
        ("00:00:00.500", "00:00:02.000"), ("00:00:02.500", "00:00:04.250"),
        ("00:00:04.250", "00:00:06.000")]
    assert html.unescape(parsed[0].text) == "Fish & chips <cheap>"
    assert parsed[1].text == "Two lines here,\nand the second one."


def test_ttml_is_xml_in_the_ttml_namespace_with_language() -> None:
    root = ET.fromstring(build_ttml(SAMPLE, "en-GB"))
    assert root.tag == f"{{{TTML_NS}}}tt"
    assert root.get(f"{{{XML_NS}}}lang") == "en-GB"
    paragraphs = root.findall(f".//{{{TTML_NS}}}p")
    assert [(p.get("begin"), p.get("end")) for p in paragraphs] == [
        ("00:00:00.500", "00:00:02.000"), ("00:00:02.500", "00:00:04.250"),
        ("00:00:04.250", "00:00:06.000")]
    assert paragraphs[0].text == "Fish & chips <cheap>"
    assert len(paragraphs[1].findall(f"{{{TTML_NS}}}br")) == 1


def test_sami_and_srt_parse_with_ffmpeg(tmp_path: Path) -> None:
    expected = [(500, 2000, "Fish & chips <cheap>"),
                (2500, 4250, "Two lines here,\nand the second one."),
                (4250, 6000, "Right after the previous cue.")]
    assert read_with_ffmpeg(build_sami(SAMPLE, "en-US"), ".smi", tmp_path) == expected
    assert read_with_ffmpeg(build_srt(SAMPLE), ".srt", tmp_path) == expected


def test_srt_layout() -> None:
    assert build_srt(SAMPLE[:1]) == (
        "1\n00:00:00,500 --> 00:00:02,000\nFish &amp; chips &lt;cheap&gt;\n")


def test_sami_blank_sync_only_where_a_cue_ends_early() -> None:
    sami = build_sami(SAMPLE, "en-US")
    starts = [int(part.split(">")[0]) for part in sami.split("<SYNC Start=")[1:]]
    assert starts == [500, 2000, 2500, 4250, 6000]
    assert ".ENUSCC { Name: en-US; lang: en-US; SAMIType: CC; }" in sami
