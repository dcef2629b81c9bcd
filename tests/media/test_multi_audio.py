"""Multi-language audio: one rendition per language in HLS, DASH and Smooth.

The sources are what an AMS-written ``.ism`` gives for an asset uploaded as-is
(``systemLanguage`` and ``title``, no ``systemBitrate``, no ``trackID``), or
what an MP4 with several ``mdhd``-tagged audio tracks gives without a ``.ism``.
"""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from openvod.errors import MediaError
from openvod.media.dash import build_mpd
from openvod.media.hls import build_master_playlist
from openvod.media.ism import IsmTrack, ServerManifest, build_ism, parse_ism
from openvod.media.presentation import (
    Presentation,
    StreamSource,
    build_presentation,
    derive_sources,
    find_rendition,
)
from openvod.media.smooth import build_smooth_manifest
from openvod.media.track import Movie

from ._presentations import check_golden, small_audio, small_video

UPDATE = os.environ.get("OPENVOD_UPDATE_GOLDEN") == "1"

AMS_ISM = """<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="formats" content="mp4" />
  </head>
  <body>
    <switch>
      <video src="movie.mp4" />
      <audio src="movie.mp4" systemLanguage="en" title="English" />
      <audio src="movie_fr.mp4">
        <param name="systemLanguage" value="fr" valuetype="data" />
        <param name="title" value="Fran&#231;ais &quot;VF&quot;" valuetype="data" />
      </audio>
    </switch>
  </body>
</smil>
"""


def multi_language_presentation() -> Presentation:
    """Video + English audio in one file, French audio in another, from ``AMS_ISM``."""
    english = dataclasses.replace(small_audio(), language="und")
    french = dataclasses.replace(small_audio(), track_id=1, bitrate_bps=96_000)
    movies = {
        "movie.mp4": Movie((small_video(640, 360, 2, 0), english), 1000, 7000, 10**6),
        "movie_fr.mp4": Movie((french,), 1000, 7000, 10**6),
    }
    sources = [
        StreamSource(t.src, t.kind, t.track_id, t.system_bitrate, t.track_name or "",  # type: ignore[arg-type]
                     t.language or "", t.title or "")
        for t in parse_ism(AMS_ISM).tracks
    ]  # fmt: skip
    return build_presentation("movie", sources, movies)


def test_ams_ism_entries_without_bitrate_or_track_id() -> None:
    manifest = parse_ism(AMS_ISM)
    video, english, french = manifest.tracks
    assert (video.system_bitrate, video.track_id, video.language) == (0, 0, None)
    assert (english.language, english.title, english.track_id) == ("en", "English", 0)
    assert (french.language, french.title) == ("fr", 'Français "VF"')
    assert parse_ism(build_ism(manifest)) == manifest  # written back as attributes


def test_languages_and_titles_reach_the_renditions() -> None:
    p = multi_language_presentation()
    assert [(r.language, r.title) for r in p.audio] == [
        ("en", "English"),
        ("fr", 'Français "VF"'),
    ]
    # the first audio track of each file, its own bitrate, named after the .ism language
    assert [r.track.track_id for r in p.audio] == [2, 1]
    assert [r.track_name for r in p.audio] == ["aac_en_2_128", "aac_fr_2_96"]
    assert p.video[0].bitrate_bps > 0


def test_hls_one_audio_rendition_per_language() -> None:
    p = multi_language_presentation()
    for fmt in ("m3u8-aapl", "m3u8-cmaf"):
        text = build_master_playlist(p, fmt)
        master = m3u8.loads(text)
        media = [(m.type, m.group_id, m.language, m.name, m.default, m.autoselect)
                 for m in master.media]  # fmt: skip
        assert media == [
            ("AUDIO", "audio", "en", "English", "YES", "YES"),
            ("AUDIO", "audio", "fr", "Français 'VF'", "NO", "YES"),
        ]
        video = [v for v in master.playlists if v.stream_info.resolution]
        assert video and all(v.stream_info.audio == "audio" for v in video)
        for m in master.media:
            request_bitrate = int(m.uri.split("(")[1].split(")")[0])
            track = m.uri.split("Manifest(")[1].split(",")[0]
            assert find_rendition(p, request_bitrate, track) is not None
        check_golden(f"hls_master_multilang_{fmt}.m3u8", text, update=UPDATE)


def test_dash_one_adaptation_set_per_language() -> None:
    p = multi_language_presentation()
    text = build_mpd(p, "mpd-time-cmaf")
    check_golden("dash_multilang_mpd-time-cmaf.mpd", text, update=UPDATE)
    sets = MPEGDASHParser.parse(text).periods[0].adaptation_sets
    audio = [s for s in sets if s.content_type == "audio"]
    assert [s.lang for s in audio] == ["en", "fr"]
    assert [s.roles[0].value for s in audio] == ["main", "alternate"]
    root = ET.fromstring(text)
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    labels = [a.findtext("d:Label", namespaces=ns) for a in root.iterfind(".//d:AdaptationSet", ns)]
    assert labels == [None, "English", 'Français "VF"']


def test_smooth_one_stream_index_per_language() -> None:
    p = multi_language_presentation()
    root = ET.fromstring(build_smooth_manifest(p))
    audio = [s for s in root.iter("StreamIndex") if s.get("Type") == "audio"]
    assert [(s.get("Language"), s.get("Name")) for s in audio] == [
        ("en", "aac_en_2_128"),
        ("fr", "aac_fr_2_96"),
    ]


def test_mp4_with_tagged_audio_tracks_without_ism() -> None:
    """No .ism: every audio track of the file becomes a rendition in its mdhd language."""
    english = small_audio()
    french = dataclasses.replace(small_audio(), track_id=3, language="fra")
    movies = {"a.mp4": Movie((small_video(640, 360, 2, 0), english, french), 1000, 7000, 1),
              "b.mp4": Movie((small_video(320, 180, 1, 0), english), 1000, 7000, 1)}  # fmt: skip
    p = build_presentation("a", derive_sources(movies), movies)
    assert [r.language for r in p.audio] == ["eng", "fra"]  # b.mp4's English is a repeat
    master = m3u8.loads(build_master_playlist(p, "m3u8-aapl"))
    assert [m.language for m in master.media] == ["eng", "fra"]
    audio = [s for s in MPEGDASHParser.parse(build_mpd(p, "mpd-time-csf")).periods[0]
             .adaptation_sets if s.content_type == "audio"]  # fmt: skip
    assert [s.lang for s in audio] == ["eng", "fra"]


def test_ism_entry_naming_a_file_without_that_kind() -> None:
    movies = {"v.mp4": Movie((small_video(640, 360, 2, 0),), 1000, 7000, 1)}
    with pytest.raises(MediaError, match="no audio track"):
        build_presentation("v", [StreamSource("v.mp4", "audio", 0, 0)], movies)


def test_ism_written_with_language_and_title() -> None:
    manifest = ServerManifest((IsmTrack("audio", "a.mp4", 0, 0, None, "fr", "Français"),))
    text = build_ism(manifest)
    assert '<audio src="a.mp4" systemLanguage="fr" title="Français">' in text
    assert "trackID" not in text and "systemBitrate" not in text
