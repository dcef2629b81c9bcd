"""Caption readers (WebVTT, TTML) and the subtitle pieces of HLS and DASH manifests."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import m3u8
import pytest
import webvtt

from openvod.errors import InvalidRequestError, MediaError
from openvod.media.captions import Cue, build_ttml, build_webvtt
from openvod.media.captions.reader import RawCue, parse_ttml, parse_webvtt, ttml_seconds
from openvod.media.subtitles import (
    SEGMENT_SECONDS,
    TextRendition,
    add_dash_text,
    add_hls_subtitles,
    build_subtitle_playlist,
    build_webvtt_segment,
)
from openvod.services.search import parse_query

CUES = [Cue(0.5, 2.0, ("Hello <world> & you",)), Cue(9.5, 11.0, ("across", "the cut")),
        Cue(25.0, 26.0, ("late",))]
MASTER = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="aac",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="a.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000,AVERAGE-BANDWIDTH=900,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"
v.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,CODECS="avc1.64001f",RESOLUTION=320x180,URI="i.m3u8"
"""


def rendition(**changes: object) -> TextRendition:
    cues = tuple(parse_webvtt(build_webvtt(CUES)))
    fields: dict[str, object] = {"name": "en subs", "display_name": 'Eng "CC"',
                                 "language": "en-US", "cues": cues, "default": True}
    fields.update(changes)
    return TextRendition(**fields)  # type: ignore[arg-type]


def test_webvtt_round_trips_with_payload_kept() -> None:
    cues = parse_webvtt("\ufeffWEBVTT - title\r\n\r\nNOTE hi\r\n\r\nid\r\n"
                        "00:01.000 --> 00:02.500 align:start\r\n<i>one</i> &amp; two\r\n")
    assert cues == [RawCue(1.0, 2.5, ("<i>one</i> &amp; two",), "align:start")]
    assert [c.payload for c in parse_webvtt(build_webvtt(CUES))][0] == (
        "Hello &lt;world&gt; &amp; you",)
    with pytest.raises(MediaError):
        parse_webvtt("1\n00:00:01,000 --> 00:00:02,000\nsrt\n")


def test_ttml_reads_clock_offsets_durations_and_breaks() -> None:
    lang, cues = parse_ttml(build_ttml(CUES, "en-GB"))
    assert lang == "en-GB"
    assert [(c.start_seconds, c.end_seconds) for c in cues] == [(0.5, 2.0), (9.5, 11.0),
                                                                 (25.0, 26.0)]
    assert cues[0].payload == ("Hello &lt;world&gt; &amp; you",)
    assert cues[1].payload == ("across", "the cut")
    assert ttml_seconds("1.5s") == 1.5 and ttml_seconds("250ms") == 0.25
    assert ttml_seconds("00:00:01:15", frame_rate=30) == 1.5
    with pytest.raises(MediaError):
        parse_ttml("<tt/>")
    with pytest.raises(MediaError):
        ttml_seconds("soon")


def test_hls_master_gains_a_subtitles_group_named_by_every_variant() -> None:
    text = add_hls_subtitles(MASTER, [rendition()])
    master = m3u8.loads(text)
    (subs,) = [m for m in master.media if m.type == "SUBTITLES"]
    assert (subs.name, subs.language, subs.default, subs.forced) == (
        "Eng 'CC'", "en-US", "YES", "NO")
    assert subs.uri == "subtitles/en%20subs/playlist.m3u8"
    assert [p.stream_info.subtitles for p in master.playlists] == ["subs"]
    assert "SUBTITLES" not in text.split("#EXT-X-I-FRAME-STREAM-INF")[1]
    assert add_hls_subtitles(MASTER, []) == MASTER


def test_webvtt_segments_cover_the_presentation_and_repeat_spanning_cues() -> None:
    track = rendition()
    playlist = m3u8.loads(build_subtitle_playlist(track, 21.0))
    assert [s.uri for s in playlist.segments] == ["0.vtt", "1.vtt", "2.vtt"]
    assert sum(s.duration for s in playlist.segments) == pytest.approx(21.0)
    texts = []
    for index in range(3):
        body = build_webvtt_segment(track, index, 21.0)
        assert body is not None and "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000" in body
        texts.append([c.text for c in webvtt.from_string(body)])
    # 'across the cut' (9.5-11 s) spans the 10-s boundary: in both segments; the cue after
    # the presentation's end is kept in the last one
    assert texts == [["Hello &lt;world&gt; &amp; you", "across\nthe cut"], ["across\nthe cut"],
                     ["late"]]
    assert build_webvtt_segment(track, 3, 21.0) is None
    assert SEGMENT_SECONDS == 10


def test_dash_gets_one_text_adaptation_set_per_track() -> None:
    mpd = ('<MPD xmlns="urn:mpeg:dash:schema:mpd:2011">\n  <Period id="0">\n'
           '    <AdaptationSet id="0" contentType="video"/>\n  </Period>\n</MPD>\n')
    text = add_dash_text(mpd, [rendition(), rendition(name="t", ttml=True, language="fr")])
    ns = "{urn:mpeg:dash:schema:mpd:2011}"
    sets = ET.fromstring(text).findall(f".//{ns}AdaptationSet")
    assert [(s.get("id"), s.get("mimeType"), s.get("lang")) for s in sets] == [
        ("0", None, None), ("1", "text/vtt", "en-US"), ("2", "application/ttml+xml", "fr")]
    assert sets[1].find(f"{ns}Label").text == 'Eng "CC"'  # type: ignore[union-attr]
    base = sets[2].find(f"{ns}Representation/{ns}BaseURL")
    assert base is not None and base.text == "subtitles/t/track.ttml"


def test_search_queries_are_words_and_quoted_phrases() -> None:
    assert parse_query('open "video  Service" now') == [["open"], ["video", "service"],
                                                         ["now"]]
    assert parse_query("don't") == [["don"], ["t"]]
    for bad in ("", '""', "  !? ", "x" * 501):
        with pytest.raises(InvalidRequestError):
            parse_query(bad)
