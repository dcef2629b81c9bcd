"""The .ism server manifest: exact text, round trip, and the entries of an encode plan."""

from __future__ import annotations

from fractions import Fraction

import pytest

from openvod.encoding.builtin import expand_builtin
from openvod.encoding.manifest import build_server_manifest
from openvod.encoding.plan import build_plan
from openvod.encoding.presets import BuiltInPreset
from openvod.encoding.source import Segment, SourceSpec
from openvod.errors import MediaError
from openvod.media.ism import IsmTrack, ServerManifest, audio_track_name, build_ism, parse_ism

GOLDEN = """<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="formats" content="mp4-adaptive" />
  </head>
  <body>
    <switch>
      <video src="clip_640x360_1000.mp4" systemBitrate="1000000">
        <param name="trackID" value="1" valuetype="data" />
      </video>
      <video src="clip_320x180_400.mp4" systemBitrate="400000">
        <param name="trackID" value="1" valuetype="data" />
      </video>
      <audio src="clip_640x360_1000.mp4" systemBitrate="128000">
        <param name="trackID" value="2" valuetype="data" />
        <param name="trackName" value="aac_und_2_128" valuetype="data" />
      </audio>
    </switch>
  </body>
</smil>
"""

MANIFEST = ServerManifest(
    (
        IsmTrack("video", "clip_640x360_1000.mp4", 1_000_000, 1),
        IsmTrack("video", "clip_320x180_400.mp4", 400_000, 1),
        IsmTrack("audio", "clip_640x360_1000.mp4", 128_000, 2, audio_track_name()),
    )
)


def test_build_matches_ams_layout() -> None:
    assert build_ism(MANIFEST) == GOLDEN


def test_round_trip() -> None:
    assert parse_ism(build_ism(MANIFEST)) == MANIFEST
    assert parse_ism(GOLDEN.encode("utf-8")) == MANIFEST


def test_names_are_escaped() -> None:
    manifest = ServerManifest((IsmTrack("video", 'a&b "c".mp4', 1, 1),))
    text = build_ism(manifest)
    assert "a&amp;b &quot;c&quot;.mp4" in text
    assert parse_ism(text).tracks[0].src == 'a&b "c".mp4'


def test_parse_an_ams_manifest_with_extra_meta_and_params() -> None:
    text = """<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="formats" content="mp4-adaptive" />
    <meta name="clientManifestRelativePath" content="movie.ismc" />
  </head>
  <body><switch>
    <video src="movie_1280x720_3520.mp4" systemBitrate="3520000">
      <param name="trackID" value="1" valuetype="data" /></video>
    <audio src="movie_AACAudio_128.mp4" systemBitrate="128000">
      <param name="trackID" value="1" valuetype="data" />
      <param name="trackName" value="aac_eng_2_128" valuetype="data" />
      <param name="systemLanguage" value="eng" valuetype="data" /></audio>
  </switch></body>
</smil>"""
    manifest = parse_ism(text)
    assert ("clientManifestRelativePath", "movie.ismc") in manifest.meta
    assert [t.src for t in manifest.video] == ["movie_1280x720_3520.mp4"]
    assert manifest.audio[0].track_name == "aac_eng_2_128"


@pytest.mark.parametrize(
    "text", ["not xml", "<html/>", '<smil><body><video systemBitrate="1"/></body></smil>']
)
def test_bad_manifests_raise_media_error(text: str) -> None:
    with pytest.raises(MediaError):
        parse_ism(text)


def test_plan_manifest_lists_each_rendition_and_audio_once() -> None:
    source = SourceSpec(
        width=640,
        height=360,
        frame_rate=Fraction(25),
        duration_seconds=6.0,
        has_video=True,
        has_audio=True,
        audio_language="eng",
        segments=(Segment("clip.mp4", 6.0, True, True),),
    )
    for name, audio_src, audio_id in [
        ("AdaptiveStreaming", "clip_AACAudio_128.mp4", 1),
        ("H264MultipleBitrate720p", "clip_1280x720_3400.mp4", 2),
    ]:
        preset = expand_builtin(
            BuiltInPreset(name),
            width=640,
            height=360,
            frame_rate=Fraction(25),
            video_bitrate_bps=None,
        )
        plan = build_plan(preset, source, "clip", "clip.mp4")
        manifest = build_server_manifest(plan)
        assert [t.src for t in manifest.video] == [f.name for f in plan.files if f.video]
        assert len(manifest.audio) == 1
        audio = manifest.audio[0]
        assert (audio.src, audio.track_id, audio.track_name) == (
            audio_src,
            audio_id,
            "aac_eng_2_128",
        )
