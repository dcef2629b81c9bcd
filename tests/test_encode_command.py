"""The pure half of the encoder: planning and ffmpeg argument building (no ffmpeg runs)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from openvod.encoding.builtin import expand_builtin
from openvod.encoding.command import build_command, filtergraph, jpeg_qscale
from openvod.encoding.filters import Filters
from openvod.encoding.manifest import build_server_manifest
from openvod.encoding.plan import EncodePlan, build_plan, fit_size
from openvod.encoding.presets import (
    BuiltInPreset,
    PresetConfigurations,
    StandardPreset,
    parse_preset,
)
from openvod.encoding.probe import parse_probe_json
from openvod.encoding.source import InputFile, Segment, SourceSpec, describe_source
from openvod.errors import EncodeError, MediaError
from openvod.resources.preset_values import Dimension

NS = "#Microsoft.Media."
HD_SOURCE = SourceSpec(
    width=1920,
    height=1080,
    frame_rate=Fraction(30000, 1001),
    duration_seconds=60.0,
    has_video=True,
    has_audio=True,
    video_stream_index=0,
    audio_stream_index=1,
    video_bitrate_bps=12_000_000,
    segments=(Segment("movie.mov", 60.0, True, True),),
)
SD_SOURCE = SourceSpec(
    width=640,
    height=360,
    frame_rate=Fraction(25),
    duration_seconds=6.0,
    has_video=True,
    has_audio=True,
    video_stream_index=0,
    audio_stream_index=1,
    segments=(Segment("clip.mp4", 6.0, True, True),),
)


def adaptive_plan(source: SourceSpec = HD_SOURCE, **config: Any) -> EncodePlan:
    preset = expand_builtin(
        BuiltInPreset("AdaptiveStreaming", PresetConfigurations(**config)),
        width=source.width,
        height=source.height,
        frame_rate=source.frame_rate,
        video_bitrate_bps=source.video_bitrate_bps,
    )
    return build_plan(preset, source, "movie", "movie.mov")


def standard_plan(body: dict[str, Any], source: SourceSpec = SD_SOURCE) -> EncodePlan:
    preset = parse_preset({"@odata.type": NS + "StandardEncoderPreset", **body})
    assert isinstance(preset, StandardPreset)
    return build_plan(preset, source, "clip", "clip.mp4")


def command(plan: EncodePlan, inputs: list[InputFile] | None = None) -> list[str]:
    return build_command(
        "ffmpeg", plan, inputs or [InputFile(Path("/in/movie.mov"))], Path("/out"), Path("/img")
    )


def outputs(argv: list[str]) -> list[list[str]]:
    """The argument groups of each output (after the filtergraph), split at the output paths."""
    start = argv.index("-filter_complex") + 2
    groups, current = [], []
    for arg in argv[start:]:
        current.append(arg)
        if arg.startswith("/out/") or arg.startswith("/img/"):
            groups.append(current)
            current = []
    return groups


def test_adaptive_streaming_1080p_is_one_ffmpeg_run_with_aligned_keyframes() -> None:
    plan = adaptive_plan()
    argv = command(plan)
    assert argv.count("-i") == 1, "the source is decoded once"
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.startswith("[0:v:0]fps=30000/1001:start_time=0,split=6[vs0]")
    groups = outputs(argv)
    assert [g[-1] for g in groups] == [
        "/out/movie_1920x1080_6780.mp4",
        "/out/movie_1280x720_3520.mp4",
        "/out/movie_960x540_2210.mp4",
        "/out/movie_640x360_1150.mp4",
        "/out/movie_480x270_720.mp4",
        "/out/movie_320x180_380.mp4",
        "/out/movie_AACAudio_128.mp4",
    ]
    for group in groups[:-1]:
        option = dict(zip(group[::2], group[1::2], strict=False))
        assert option["-force_key_frames"] == "expr:gte(t,n_forced*2)"
        assert option["-sc_threshold"] == "0"
        assert option["-flags"] == "+cgop"
        assert option["-g"] == option["-keyint_min"] == "60"
        assert option["-movflags"] == "+faststart"
        assert "open-gop=0" in option["-x264-params"]
        assert "-c:a:0" not in group, "AdaptiveStreaming is non-interleaved"
    audio = groups[-1]
    assert "libx264" not in audio and "[a0]" in audio and "128000" in audio


def test_adaptive_streaming_bitrates_never_exceed_a_low_bitrate_source() -> None:
    source = SourceSpec(**{**HD_SOURCE.__dict__, "video_bitrate_bps": 2_000_000})
    plan = adaptive_plan(source)
    assert plan.video_encodes[0].layer.bitrate_bps <= 2_000_000
    assert plan.video_encodes[0].height == 1080


def test_adaptive_streaming_interleaved_on_request() -> None:
    plan = adaptive_plan(interleave_output="InterleavedOutput")
    assert all(len(f.audios) == 1 for f in plan.files)
    manifest = build_server_manifest(plan)
    assert len(manifest.audio) == 1 and manifest.audio[0].track_id == 2
    assert manifest.audio[0].src == plan.files[0].name


def test_complexity_maps_to_x264_preset() -> None:
    argv = command(adaptive_plan(complexity="Speed"))
    assert argv[argv.index("-preset:v") + 1] == "veryfast"
    argv = command(adaptive_plan(complexity="Quality"))
    assert argv[argv.index("-preset:v") + 1] == "slow"


def test_custom_preset_names_and_thumbnails() -> None:
    plan = standard_plan(
        {
            "codecs": [
                {
                    "@odata.type": NS + "H264Video",
                    "complexity": "Speed",
                    "layers": [
                        {"bitrate": 1000000, "width": "640", "height": "360", "label": "HD"},
                        {"bitrate": 400000, "width": "50%", "height": "50%", "label": "SD"},
                    ],
                },
                {"@odata.type": NS + "AacAudio", "bitrate": 96000},
                {
                    "@odata.type": NS + "PngImage",
                    "start": "25%",
                    "step": "25%",
                    "range": "80%",
                    "layers": [{"width": "50%", "height": "50%"}],
                },
            ],
            "formats": [
                {
                    "@odata.type": NS + "Mp4Format",
                    "filenamePattern": "Video-{Basename}-{Label}-{Bitrate}{Extension}",
                },
                {
                    "@odata.type": NS + "PngFormat",
                    "filenamePattern": "Thumbnail-{Basename}-{Index}{Extension}",
                },
            ],
        }
    )
    assert [f.name for f in plan.files] == ["Video-clip-HD-1000.mp4", "Video-clip-SD-400.mp4"]
    assert all(len(f.audios) == 1 for f in plan.files), "default: audio muxed into every video file"
    (job,) = plan.images
    assert (job.start_frame, job.step_frames, job.end_frame, job.count) == (38, 38, 150, 3)
    assert [job.file_name("clip", i) for i in (1, 2)] == [
        "Thumbnail-clip-000001.png",
        "Thumbnail-clip-000002.png",
    ]
    argv = command(plan)
    graph = argv[argv.index("-filter_complex") + 1]
    assert "select='gte(n,38)*lt(n,150)*not(mod(n-38,38))',scale=320:180" in graph
    assert "-c:v" in outputs(argv)[-1] and "ppm" in outputs(argv)[-1]


def test_output_files_group_labels() -> None:
    plan = standard_plan(
        {
            "codecs": [
                {
                    "@odata.type": NS + "H264Video",
                    "layers": [
                        {"bitrate": 1000000, "label": "hi"},
                        {"bitrate": 300000, "height": "180", "label": "lo"},
                    ],
                },
                {"@odata.type": NS + "AacAudio", "label": "aud"},
            ],
            "formats": [
                {
                    "@odata.type": NS + "Mp4Format",
                    "filenamePattern": "{Basename}_{Label}{Extension}",
                    "outputFiles": [{"labels": ["hi"]}, {"labels": ["lo"]}, {"labels": ["aud"]}],
                }
            ],
        }
    )
    assert [(f.name, f.video is not None, len(f.audios)) for f in plan.files] == [
        ("clip_hi.mp4", True, 0),
        ("clip_lo.mp4", True, 0),
        ("clip_aud.mp4", False, 1),
    ]
    assert plan.video_encodes[1].width == 320


def test_colliding_names_fail_before_encoding() -> None:
    body = {
        "codecs": [
            {"@odata.type": NS + "H264Video", "layers": [{"bitrate": 1000000}, {"bitrate": 500000}]}
        ],
        "formats": [{"@odata.type": NS + "Mp4Format", "filenamePattern": "{Basename}{Extension}"}],
    }
    with pytest.raises(EncodeError, match="both be named 'clip.mp4'"):
        standard_plan(body)


def test_audio_only_input_with_video_preset_fails() -> None:
    source = SourceSpec(
        width=0,
        height=0,
        frame_rate=Fraction(25),
        duration_seconds=3,
        has_video=False,
        has_audio=True,
        audio_stream_index=0,
        segments=(Segment("a.m4a", 3, False, True),),
    )
    with pytest.raises(EncodeError, match="'a.m4a' has no video stream"):
        adaptive_plan(source)


def test_video_only_input_with_audio_preset_fails() -> None:
    source = SourceSpec(**{**SD_SOURCE.__dict__, "has_audio": False})
    preset = expand_builtin(
        BuiltInPreset("AACGoodQualityAudio"),
        width=640,
        height=360,
        frame_rate=Fraction(25),
        video_bitrate_bps=None,
    )
    with pytest.raises(EncodeError, match="has no audio stream"):
        build_plan(preset, source, "clip", "clip.mp4")


def test_video_preset_on_silent_video_drops_audio() -> None:
    source = SourceSpec(**{**SD_SOURCE.__dict__, "has_audio": False, "audio_stream_index": None})
    plan = adaptive_plan(source)
    assert all(not f.audios for f in plan.files) and len(plan.files) == 3
    assert "asplit" not in filtergraph(plan)


def test_clip_times_go_before_the_input() -> None:
    argv = command(adaptive_plan(), [InputFile(Path("/in/movie.mov"), 5.0, 12.5)])
    assert argv[argv.index("-i") - 4 : argv.index("-i") + 1] == ["-ss", "5", "-to", "12.5", "-i"]


def test_stitching_concatenates_and_fills_silence() -> None:
    source = SourceSpec(
        **{
            **SD_SOURCE.__dict__,
            "duration_seconds": 9.0,
            "segments": (Segment("a.mp4", 6.0, True, True), Segment("b.mp4", 3.0, True, False)),
        }
    )
    graph = filtergraph(adaptive_plan(source))
    assert "[cv0][cv1]concat=n=2:v=1:a=0[vcat]" in graph
    assert "anullsrc=r=48000:cl=stereo,atrim=duration=3" in graph
    assert "[ca0][ca1]concat=n=2:v=0:a=1[acat]" in graph


def test_filters_rotate_crop_deinterlace_fade() -> None:
    source = SourceSpec(
        **{
            **SD_SOURCE.__dict__,
            "crop": (320, 180, 10, 0),
            "width": 320,
            "height": 180,
            "interlaced": True,
        }
    )
    body = {
        "codecs": [{"@odata.type": NS + "H264Video", "layers": [{"bitrate": 500000}]}],
        "formats": [{"@odata.type": NS + "Mp4Format", "filenamePattern": "{Basename}{Extension}"}],
        "filters": {"rotation": "Rotate270", "fadeOut": {"duration": "PT1S"}},
    }
    plan = standard_plan(body, source)
    graph = filtergraph(plan)
    assert graph.startswith(
        "[0:v:0]yadif=mode=send_frame:parity=auto:deint=interlaced,transpose=cclock,"
        "crop=320:180:10:0,fps=25:start_time=0,fade=t=out:st=5:d=1:c=black,split=1"
    )
    assert "-noautorotate" in command(plan)


def test_rate_control_modes() -> None:
    def layer_args(mode: str, **layer: Any) -> list[str]:
        body = {
            "codecs": [
                {
                    "@odata.type": NS + "H264Video",
                    "rateControlMode": mode,
                    "layers": [{"bitrate": 1000000, **layer}],
                }
            ],
            "formats": [
                {"@odata.type": NS + "Mp4Format", "filenamePattern": "{Basename}{Extension}"}
            ],
        }
        return command(standard_plan(body))

    cbr = layer_args("CBR", bufferWindow="PT2S")
    assert cbr[cbr.index("-minrate:v") + 1] == "1000000"
    assert cbr[cbr.index("-bufsize:v") + 1] == "2000000"
    assert "nal-hrd=cbr" in cbr[cbr.index("-x264-params") + 1]
    crf = layer_args("CRF", crf=28, maxBitrate=2000000)
    assert crf[crf.index("-crf") + 1] == "28" and "-b:v" not in crf
    abr = layer_args(
        "ABR", maxBitrate=1500000, profile="Baseline", level="3.0", entropyMode="Cavlc"
    )
    assert abr[abr.index("-maxrate:v") + 1] == "1500000"
    assert abr[abr.index("-profile:v") + 1] == "baseline"
    assert "cabac=0" in abr[abr.index("-x264-params") + 1]


def test_copy_codec() -> None:
    preset = expand_builtin(
        BuiltInPreset("CopyCodec"),
        width=640,
        height=360,
        frame_rate=Fraction(25),
        video_bitrate_bps=None,
    )
    plan = build_plan(preset, SD_SOURCE, "clip", "clip.mp4")
    argv = command(plan)
    assert "-filter_complex" not in argv
    start = argv.index("-map")
    assert argv[start : start + 8] == [
        "-map",
        "0:0",
        "-c:v",
        "copy",
        "-map",
        "0:1",
        "-c:a:0",
        "copy",
    ]
    assert argv[-1] == "/out/clip.mp4"


@pytest.mark.parametrize(
    ("box", "mode", "expected"),
    [
        ((1280, 1280), "AutoSize", (1280, 720, 1280, 720)),
        ((1280, 1280), "AutoFit", (1280, 1280, 1280, 720)),
        ((1280, 1280), "None", (1280, 1280, 1280, 1280)),
        ((848, 480), "AutoSize", (848, 480, 848, 480)),  # within 2% of 16:9: kept as AMS did
        ((None, 720), "AutoSize", (1280, 720, 1280, 720)),
        ((640, None), "AutoSize", (640, 360, 640, 360)),
    ],
)
def test_fit_size(box: tuple[int | None, int | None], mode: Any, expected: tuple[int, ...]) -> None:
    w, h = (Dimension(v) if v else None for v in box)
    assert fit_size(w, h, 1920, 1080, mode) == expected


def test_jpeg_quality_mapping() -> None:
    assert jpeg_qscale(100) == 2 and jpeg_qscale(0) == 31 and jpeg_qscale(None) == jpeg_qscale(70)


def test_probe_json_parsing() -> None:
    data = {
        "format": {"format_name": "mov,mp4", "duration": "10.0", "bit_rate": "3000000"},
        "streams": [
            {
                "index": 0,
                "codec_type": "video",
                "codec_name": "h264",
                "width": 1440,
                "height": 1080,
                "sample_aspect_ratio": "4:3",
                "r_frame_rate": "30000/1001",
                "avg_frame_rate": "30000/1001",
                "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}],
                "field_order": "tt",
            },
            {
                "index": 1,
                "codec_type": "audio",
                "codec_name": "aac",
                "sample_rate": "48000",
                "channels": 2,
                "bit_rate": "128000",
                "tags": {"language": "eng"},
            },
            {
                "index": 2,
                "codec_type": "video",
                "codec_name": "mjpeg",
                "disposition": {"attached_pic": 1},
            },
        ],
    }
    info = parse_probe_json(data, "x.mov")
    assert info.video is not None and info.video.display_size == (1080, 1920)
    assert info.video.frame_rate == Fraction(30000, 1001) and info.video.interlaced
    assert info.audio is not None and info.audio.language == "eng"
    source = describe_source([InputFile(Path("x.mov"), 2.0, 7.0)], [info], parse_filters_default())
    assert (source.width, source.height, source.duration_seconds) == (1080, 1920, 5.0)
    assert source.video_bitrate_bps == 3_000_000 - 128_000


def parse_filters_default() -> Filters:
    return Filters()


def test_probe_json_without_media_streams_is_not_media() -> None:
    with pytest.raises(MediaError, match="'x.srt' is not a media file"):
        parse_probe_json(
            {"format": {"format_name": "srt"}, "streams": [{"codec_type": "subtitle"}]}, "x.srt"
        )


def test_empty_clip_is_an_error() -> None:
    info = parse_probe_json(
        {"format": {"duration": "4"}, "streams": [{"codec_type": "audio", "codec_name": "aac"}]},
        "a.m4a",
    )
    with pytest.raises(EncodeError, match="clip of 'a.m4a' is empty"):
        describe_source([InputFile(Path("a.m4a"), 5.0, 9.0)], [info], parse_filters_default())


def test_best_thumbnail_and_transport_stream() -> None:
    plan = standard_plan(
        {
            "codecs": [
                {"@odata.type": NS + "H264Video", "layers": [{"bitrate": 500000}]},
                {"@odata.type": NS + "JpgImage", "layers": [{"width": "25%", "height": "25%"}]},
            ],
            "formats": [
                {
                    "@odata.type": NS + "TransportStreamFormat",
                    "filenamePattern": "{Basename}{Extension}",
                },
                {
                    "@odata.type": NS + "JpgFormat",
                    "filenamePattern": "{Basename}_{Index}{Extension}",
                },
            ],
        }
    )
    assert [f.name for f in plan.files] == ["clip.ts"] and plan.ism_name is None
    (job,) = plan.images
    assert job.best and job.count == 1 and (job.width, job.height) == (160, 90)
    argv = command(plan)
    graph = argv[argv.index("-filter_complex") + 1]
    assert "trim=duration=6,framestep=12,thumbnail=n=13,scale=160:90:out_range=full" in graph
    image = outputs(argv)[-1]
    assert image[image.index("-frames:v") + 1] == "1" and image[-1] == "/img/img0_%06d.jpg"
    assert outputs(argv)[0][-3:] == ["-f", "mpegts", "/out/clip.ts"]
