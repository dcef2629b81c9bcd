"""Parsing and validating AMS preset JSON (as the azure-mgmt-media SDK serialises it)."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest
from azure.mgmt.media import models as ams

from openvod.clock import parse_duration
from openvod.encoding.builtin import (
    SUPPORTED_NAMES,
    adaptive_ladder,
    expand_builtin,
    reference_bitrate_bps,
)
from openvod.encoding.naming import expand_pattern, format_index, shorten_basename
from openvod.encoding.presets import (
    AacAudio,
    BuiltInPreset,
    H264Video,
    ImageCodec,
    ImageFormat,
    MultiBitrateFormat,
    PresetConfigurations,
    StandardPreset,
    parse_preset,
)
from openvod.errors import InvalidPresetError, InvalidRequestError
from openvod.resources.preset_values import Dimension, Position

NS = "#Microsoft.Media."


def wire(preset: Any) -> dict[str, Any]:
    """The JSON the SDK sends for a TransformOutput's preset."""
    body: dict[str, Any] = ams.TransformOutput(preset=preset).serialize()["preset"]
    return body


def standard(
    codecs: list[dict[str, Any]], formats: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "@odata.type": NS + "StandardEncoderPreset",
        "codecs": codecs,
        "formats": formats,
        **extra,
    }


H264 = {"@odata.type": NS + "H264Video", "layers": [{"bitrate": 1000000, "label": "HD"}]}
AAC = {"@odata.type": NS + "AacAudio"}
MP4 = {"@odata.type": NS + "Mp4Format", "filenamePattern": "{Basename}_{Label}{Extension}"}


def test_sdk_builtin_preset_parses() -> None:
    body = wire(
        ams.BuiltInStandardEncoderPreset(
            preset_name="AdaptiveStreaming",
            configurations=ams.PresetConfigurations(
                complexity="Speed", max_height=720, max_layers=3
            ),
        )
    )
    preset = parse_preset(body)
    assert isinstance(preset, BuiltInPreset)
    assert preset.name == "AdaptiveStreaming"
    assert preset.configurations.complexity == "Speed"
    assert preset.configurations.max_height == 720
    assert preset.configurations.max_layers == 3


@pytest.mark.parametrize("name", SUPPORTED_NAMES)
def test_every_supported_builtin_name_parses(name: str) -> None:
    body = {"@odata.type": NS + "BuiltInStandardEncoderPreset", "presetName": name}
    assert isinstance(parse_preset(body), BuiltInPreset)


def test_unknown_builtin_is_rejected_with_the_supported_list() -> None:
    body = {"@odata.type": NS + "BuiltInStandardEncoderPreset", "presetName": "UnknownPreset"}
    with pytest.raises(InvalidPresetError) as caught:
        parse_preset(body)
    message = str(caught.value)
    assert message.startswith("UnknownPreset is not a supported built-in preset; supported:")
    assert "AdaptiveStreaming" in message and "H264MultipleBitrate720p" in message
    assert isinstance(caught.value, InvalidRequestError) and isinstance(caught.value, ValueError)


def test_sdk_standard_preset_parses_into_typed_values() -> None:
    body = wire(
        ams.StandardEncoderPreset(
            codecs=[
                ams.H264Video(
                    key_frame_interval=timedelta(seconds=2),
                    complexity="Speed",
                    layers=[
                        ams.H264Layer(
                            bitrate=3600000,
                            width="1280",
                            height="720",
                            label="HD",
                            buffer_window=timedelta(seconds=5),
                            profile="High",
                            level="3.1",
                            b_frames=2,
                            reference_frames=3,
                            frame_rate="30000/1001",
                        ),
                        ams.H264Layer(bitrate=600000, width="50%", height="50%", label="SD"),
                    ],
                ),
                ams.AacAudio(channels=2, sampling_rate=48000, bitrate=128000, profile="AacLc"),
                ams.PngImage(
                    start="25%",
                    step="25%",
                    range="80%",
                    layers=[ams.PngLayer(width="50%", height="50%")],
                ),
                ams.JpgImage(
                    start="PT5S",
                    step="PT10S",
                    range="100%",
                    sprite_column=4,
                    layers=[ams.JpgLayer(width="160", height="90", quality=90)],
                ),
            ],
            formats=[
                ams.Mp4Format(
                    filename_pattern="Video-{Basename}-{Label}-{Bitrate}{Extension}",
                    output_files=[ams.OutputFile(labels=["HD"]), ams.OutputFile(labels=["SD"])],
                ),
                ams.PngFormat(filename_pattern="Thumbnail-{Basename}-{Index}{Extension}"),
                ams.JpgFormat(filename_pattern="Sprite-{Basename}-{Index}{Extension}"),
            ],
        )
    )
    preset = parse_preset(body)
    assert isinstance(preset, StandardPreset)
    video, audio, png, jpg = preset.codecs
    assert isinstance(video, H264Video) and video.complexity == "Speed"
    assert video.key_frame_interval_seconds == 2.0
    hd, sd = video.layers
    assert (hd.bitrate_bps, hd.width, hd.height, hd.profile, hd.level) == (
        3600000,
        Dimension(1280),
        Dimension(720),
        "High",
        "3.1",
    )
    assert hd.frame_rate == Fraction(30000, 1001) and hd.b_frames == 2
    assert sd.width == Dimension(50, is_percent=True)
    assert isinstance(audio, AacAudio) and audio.bitrate_bps == 128000
    assert isinstance(png, ImageCodec) and png.start == Position("percent", 25)
    assert isinstance(jpg, ImageCodec) and jpg.sprite_column == 4 and jpg.layers[0].quality == 90
    assert jpg.start == Position("seconds", 5)
    mp4, png_format, _ = preset.formats
    assert isinstance(mp4, MultiBitrateFormat) and mp4.output_files == (("HD",), ("SD",))
    assert isinstance(png_format, ImageFormat) and png_format.kind == "png"


def test_defaults_follow_ams() -> None:
    preset = parse_preset(standard([H264, AAC], [MP4]))
    assert isinstance(preset, StandardPreset)
    video, audio = preset.codecs
    assert isinstance(video, H264Video) and isinstance(audio, AacAudio)
    assert video.key_frame_interval_seconds == 2.0
    assert video.complexity == "Balanced" and video.stretch_mode == "AutoSize"
    assert video.layers[0].buffer_window_seconds == 5.0
    assert (audio.channels, audio.sampling_rate, audio.bitrate_bps, audio.profile) == (
        2,
        48000,
        128000,
        "AacLc",
    )


@pytest.mark.parametrize(
    ("codecs", "formats", "field"),
    [
        (
            [{"@odata.type": NS + "H264Video", "layers": [{"width": "640"}]}],
            [MP4],
            "layers[0].bitrate",
        ),
        (
            [{"@odata.type": NS + "H264Video", "layers": [{"bitrate": 1e6, "width": "wide"}]}],
            [MP4],
            ".width",
        ),
        ([{"@odata.type": NS + "H264Video", "layers": []}], [MP4], "codecs[0].layers"),
        ([{**H264, "keyFrameInterval": "PT60S"}], [MP4], "keyFrameInterval"),
        ([{**H264, "keyFrameInterval": "two seconds"}], [MP4], "keyFrameInterval"),
        ([{**H264, "complexity": "Fastest"}], [MP4], "complexity"),
        (
            [{"@odata.type": NS + "H264Video", "layers": [{"bitrate": 1e6, "profile": "High444"}]}],
            [MP4],
            "profile",
        ),
        ([{"@odata.type": NS + "H265Video", "layers": []}], [MP4], "codecs[0].layers"),
        ([{"@odata.type": NS + "VP9Video", "layers": []}], [MP4], "codecs[0].@odata.type"),
        ([{"@odata.type": NS + "Mystery"}], [MP4], "codecs[0].@odata.type"),
        ([H264], [], "preset.formats"),
        ([], [MP4], "preset.codecs"),
        ([H264], [{"@odata.type": NS + "Mp4Format"}], "filenamePattern"),
        (
            [H264],
            [{"@odata.type": NS + "PngFormat", "filenamePattern": "x{Index}{Extension}"}],
            "formats",
        ),
        ([H264], [{**MP4, "outputFiles": [{"labels": ["nope"]}]}], "outputFiles[0].labels"),
        ([{"@odata.type": NS + "PngImage", "start": "later"}], [MP4], "start"),
        ([{"@odata.type": NS + "JpgImage", "layers": [{"quality": 101}]}], [MP4], "quality"),
        ([{**AAC, "channels": "two"}], [MP4], "channels"),
    ],
)
def test_invalid_fields_are_named(
    codecs: list[dict[str, Any]], formats: list[dict[str, Any]], field: str
) -> None:
    with pytest.raises(InvalidPresetError) as caught:
        parse_preset(standard(codecs, formats))
    assert field in str(caught.value)


def test_two_video_layers_in_one_file_are_rejected() -> None:
    video = {
        "@odata.type": NS + "H264Video",
        "layers": [{"bitrate": 1000000, "label": "a"}, {"bitrate": 500000, "label": "b"}],
    }
    mp4 = {**MP4, "outputFiles": [{"labels": ["a", "b"]}]}
    with pytest.raises(InvalidPresetError, match="at most one video layer"):
        parse_preset(standard([video], [mp4]))


def test_duplicate_labels_are_rejected() -> None:
    with pytest.raises(InvalidPresetError, match="'HD' is used twice"):
        parse_preset(standard([H264, {**AAC, "label": "HD"}], [MP4]))


def test_overlays_parse_and_bad_ones_are_named() -> None:
    overlay = {"@odata.type": NS + "VideoOverlay", "inputLabel": "logo", "start": "PT1S",
               "opacity": 0.5, "position": {"left": "10%", "top": "20", "width": "64"}}
    sound = {"@odata.type": NS + "AudioOverlay", "inputLabel": "tone", "audioGainLevel": 0.25}
    preset = parse_preset(standard([H264], [MP4], filters={"overlays": [overlay, sound]}))
    assert isinstance(preset, StandardPreset)
    picture, audio = preset.filters.overlays
    assert (picture.video, picture.start_seconds, picture.opacity) == (True, 1.0, 0.5)
    assert picture.position is not None and picture.position.left == Dimension(10, True)
    assert (audio.video, audio.audio_gain, audio.end_seconds) == (False, 0.25, None)
    with pytest.raises(InvalidPresetError, match=r"filters\.overlays\[0\]\.opacity"):
        parse_preset(standard([H264], [MP4], filters={"overlays": [{**overlay, "opacity": 2}]}))
    with pytest.raises(InvalidPresetError, match=r"filters\.overlays\[0\]\.inputLabel"):
        parse_preset(standard([H264], [MP4], filters={"overlays": [
            {"@odata.type": NS + "AudioOverlay"}]}))


def test_filters_parse() -> None:
    filters = {
        "crop": {"left": "0", "top": "10%", "width": "50%", "height": "360"},
        "rotation": "Rotate90",
        "deinterlace": {"parity": "TopFieldFirst", "mode": "AutoPixelAdaptive"},
        "fadeIn": {"duration": "PT1S", "fadeColor": "rgb(255, 0, 0)"},
    }
    preset = parse_preset(standard([H264], [MP4], filters=filters))
    assert isinstance(preset, StandardPreset)
    assert preset.filters.rotation == "Rotate90"
    assert preset.filters.crop is not None and preset.filters.crop.top == Dimension(10, True)
    assert preset.filters.fade_in is not None and preset.filters.fade_in.color == "0xFF0000"
    with pytest.raises(InvalidPresetError, match="fadeColor"):
        parse_preset(
            standard([H264], [MP4], filters={"fadeIn": {"duration": "PT1S", "fadeColor": "red;x"}})
        )


def test_non_encoder_presets_are_refused() -> None:
    with pytest.raises(InvalidPresetError, match="not an encoding preset"):
        parse_preset({"@odata.type": NS + "AudioAnalyzerPreset", "audioLanguage": "en-US"})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT2S", 2.0), ("PT0.5S", 0.5), ("PT1M30S", 90.0), ("P1DT1H", 90000.0), ("00:00:02", 2.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


# --- built-in ladders ---------------------------------------------------------------------


def test_adaptive_ladder_matches_ams_published_1080p_example() -> None:
    rungs = adaptive_ladder(1920, 1080, Fraction(30000, 1001), None, PresetConfigurations())
    assert [(r.width, r.height) for r in rungs] == [
        (1920, 1080),
        (1280, 720),
        (960, 540),
        (640, 360),
        (480, 270),
        (320, 180),
    ]
    assert [r.bitrate_bps // 1000 for r in rungs] == [6780, 3520, 2210, 1150, 720, 380]


def test_adaptive_ladder_scales_with_frame_rate_like_ams_720p_23_976_example() -> None:
    rungs = adaptive_ladder(1280, 720, Fraction(24000, 1001), None, PresetConfigurations())
    assert [r.height for r in rungs] == [720, 540, 360, 270, 180]
    assert [r.bitrate_bps // 1000 for r in rungs] == [2940, 1850, 960, 600, 320]


@pytest.mark.parametrize(
    ("size", "bitrate"),
    [
        ((640, 360), 2_000_000),
        ((1920, 1080), 1_500_000),
        ((720, 576), None),
        ((3840, 2160), None),
        ((1080, 1920), None),
        ((400, 300), 300_000),
    ],
)
def test_adaptive_ladder_never_upscales_or_exceeds_source(
    size: tuple[int, int], bitrate: int | None
) -> None:
    width, height = size
    rungs = adaptive_ladder(width, height, Fraction(25), bitrate, PresetConfigurations())
    assert rungs, "at least one rung"
    assert min(rungs[0].width, rungs[0].height) <= min(width, height, 1080)
    assert all(r.width <= width and r.height <= height for r in rungs)
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in rungs)
    if bitrate:
        assert rungs[0].bitrate_bps <= bitrate
    heights = [r.height for r in rungs]
    assert heights == sorted(heights, reverse=True) and len(set(heights)) == len(heights)
    for r in rungs:  # widths keep the source's display aspect ratio
        assert abs(r.width / r.height - width / height) < 0.02


def test_adaptive_ladder_for_portrait_source_steps_the_short_side() -> None:
    rungs = adaptive_ladder(1080, 1920, Fraction(30), None, PresetConfigurations())
    assert [(r.width, r.height) for r in rungs][:3] == [(1080, 1920), (720, 1280), (540, 960)]


def test_adaptive_ladder_for_small_source() -> None:
    rungs = adaptive_ladder(640, 360, Fraction(25), None, PresetConfigurations())
    assert [(r.width, r.height) for r in rungs] == [(640, 360), (480, 270), (320, 180)]


def test_adaptive_ladder_honours_configurations() -> None:
    config = PresetConfigurations(max_height=720, min_height=360, max_bitrate_bps=2_000_000)
    rungs = adaptive_ladder(1920, 1080, Fraction(30), None, config)
    assert [r.height for r in rungs] == [720, 540, 360]
    assert rungs[0].bitrate_bps <= 2_000_000
    spread = adaptive_ladder(1920, 1080, Fraction(30), None, PresetConfigurations(max_layers=3))
    assert [r.height for r in spread] == [1080, 540, 180]


def test_reference_bitrate_is_monotonic() -> None:
    rates = [reference_bitrate_bps(h, 30) for h in (144, 180, 240, 480, 720, 900, 1080, 1440)]
    assert rates == sorted(rates)


def test_expand_adaptive_streaming_is_non_interleaved() -> None:
    preset = expand_builtin(
        BuiltInPreset("AdaptiveStreaming"),
        width=640,
        height=360,
        frame_rate=Fraction(25),
        video_bitrate_bps=None,
    )
    video_format, audio_format = preset.formats
    assert isinstance(video_format, MultiBitrateFormat) and isinstance(
        audio_format, MultiBitrateFormat
    )
    assert len(video_format.output_files) == 3
    assert audio_format.output_files == (("AACAudio",),)


def test_expand_fixed_ladder_interleaves_audio() -> None:
    preset = expand_builtin(
        BuiltInPreset("H264MultipleBitrate1080p"),
        width=1920,
        height=1080,
        frame_rate=Fraction(25),
        video_bitrate_bps=None,
    )
    video = preset.codecs[0]
    assert isinstance(video, H264Video)
    assert [layer.bitrate_bps // 1000 for layer in video.layers] == [
        6000,
        4700,
        3400,
        2250,
        1500,
        1000,
        650,
        400,
    ]
    (mp4,) = preset.formats
    assert isinstance(mp4, MultiBitrateFormat) and mp4.output_files == ()


# --- file name macros -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "values", "expected"),
    [
        (
            "Video-{Basename}-{Label}-{Bitrate}{Extension}",
            {"Basename": "clip", "Label": "HD", "Bitrate": "1000", "Extension": ".mp4"},
            "Video-clip-HD-1000.mp4",
        ),
        (
            "Video-{Basename}-{Label}-{Bitrate}{Extension}",
            {"Basename": "clip", "Bitrate": "1000", "Extension": ".mp4"},
            "Video-clip-1000.mp4",
        ),
        (
            "Thumbnail-{Basename}-{Index}{Extension}",
            {"Basename": "clip", "Index": format_index(7), "Extension": ".png"},
            "Thumbnail-clip-000007.png",
        ),
        (
            "Thumbnail-{Basename}-{Bitrate}{Extension}",
            {"Basename": "c", "Extension": ".jpg"},
            "Thumbnail-c.jpg",
        ),
        ("{Label}_{Basename}{Extension}", {"Basename": "c", "Extension": ".mp4"}, "c.mp4"),
        (
            "{basename}_{RESOLUTION}{extension}",
            {"Basename": "c", "Resolution": "640x360", "Extension": ".mp4"},
            "c_640x360.mp4",
        ),
        ("{Basename}_{Unknown}{Extension}", {"Basename": "c", "Extension": ".ts"}, "c.ts"),
        (
            "{Basename}_{Label}{Extension}",
            {"Basename": "c", "Label": "a/b", "Extension": ".ts"},
            "c_a_b.ts",
        ),
    ],
)
def test_expand_pattern(pattern: str, values: dict[str, str], expected: str) -> None:
    assert expand_pattern(pattern, values) == expected


def test_basename_is_cut_to_32_characters() -> None:
    assert shorten_basename("x" * 40) == "x" * 32
    assert shorten_basename("short") == "short"
