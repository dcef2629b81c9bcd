"""Pure parts of the preset additions: the content-aware rule, libx265 options, TS rules."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import pytest

from openvod.encoding.builtin import SourceAnalysis, adaptive_ladder, expand_builtin
from openvod.encoding.content_aware import decide_ladder
from openvod.encoding.plan import VideoEncode
from openvod.encoding.presets import (
    BuiltInPreset,
    H264Layer,
    H265Video,
    PresetConfigurations,
)
from openvod.encoding.x265 import x265_options
from openvod.errors import InvalidRequestError
from openvod.origin.codec_rules import check_format_carries


def test_content_aware_rule_is_monotonic_and_capped() -> None:
    still, typical, noisy = decide_ladder(0.004, None), decide_ladder(0.08, None), \
        decide_ladder(2.0, None)
    assert (still.bitrate_factor, still.max_layers) == (0.3, 2)
    assert (typical.bitrate_factor, typical.max_layers) == (1.0, None)
    assert (noisy.bitrate_factor, noisy.max_layers) == (1.25, None)
    assert decide_ladder(2.0, 3).max_layers == 3 and decide_ladder(0.004, 5).max_layers == 2


def test_content_aware_ladder_for_a_1080p_source() -> None:
    config = PresetConfigurations()
    still = adaptive_ladder(1920, 1080, Fraction(25), None, config, decide_ladder(0.004, None))
    noisy = adaptive_ladder(1920, 1080, Fraction(25), None, config, decide_ladder(2.0, None))
    assert len(still) == 2 and len(noisy) >= 6
    assert still[0].height == noisy[0].height == 1080
    assert still[0].bitrate_bps * 3 < noisy[0].bitrate_bps


def test_h265_builtins_expand_to_hevc_at_lower_rates() -> None:
    kwargs: dict[str, Any] = {"width": 1920, "height": 1080, "frame_rate": Fraction(25),
                              "video_bitrate_bps": None, "analysis": SourceAnalysis(0.08)}
    h264 = expand_builtin(BuiltInPreset("AdaptiveStreaming"), **kwargs)
    h265 = expand_builtin(BuiltInPreset("H265AdaptiveStreaming"), **kwargs)
    assert isinstance(h265.codecs[0], H265Video) and not isinstance(h264.codecs[0], H265Video)
    top264 = h264.codecs[0].layers[0].bitrate_bps  # type: ignore[union-attr]
    top265 = h265.codecs[0].layers[0].bitrate_bps  # type: ignore[union-attr]
    assert top265 == pytest.approx(top264 * 0.55, rel=0.01)


def test_x265_options_tag_hvc1_and_close_gops() -> None:
    layer = H264Layer(bitrate_bps=800_000, profile="Main10", level="4.1", b_frames=2,
                      adaptive_b_frame=False, slices=2, reference_frames=3)
    codec = H265Video(layers=(layer,), key_frame_interval_seconds=2.0, complexity="Speed")
    argv = x265_options(VideoEncode(1280, 720, 1280, 720, Fraction(25), layer, codec))
    pairs = dict(zip(argv[::2], argv[1::2], strict=True))
    assert pairs["-c:v"] == "libx265" and pairs["-tag:v"] == "hvc1"
    assert pairs["-profile:v"] == "main10" and pairs["-pix_fmt"] == "yuv420p10le"
    assert pairs["-force_key_frames"] == "expr:gte(t,n_forced*2)"
    params = pairs["-x265-params"].split(":")
    for expected in ("keyint=50", "min-keyint=50", "open-gop=0", "scenecut=0", "level-idc=4.1",
                     "bframes=2", "b-adapt=0", "slices=2", "ref=3"):
        assert expected in params


def presentation(*codecs: tuple[str, str]) -> Any:
    renditions = tuple(SimpleNamespace(kind=k, track=SimpleNamespace(codec=c)) for k, c in codecs)
    return SimpleNamespace(renditions=renditions)


def test_ts_formats_refuse_hevc_and_dolby() -> None:
    check_format_carries(presentation(("video", "avc1"), ("audio", "mp4a")), "m3u8-aapl")
    for fmt in ("m3u8-cmaf", "mpd-time-cmaf", "mpd-time-csf", "smooth"):
        check_format_carries(presentation(("video", "hvc1"), ("audio", "ac-3")), fmt)
    with pytest.raises(InvalidRequestError, match="HEVC.*m3u8-cmaf"):
        check_format_carries(presentation(("video", "hvc1")), "m3u8-aapl")
    with pytest.raises(InvalidRequestError, match="Dolby Digital"):
        check_format_carries(presentation(("video", "avc1"), ("audio", "ac-3")), "m3u8-aapl-v3")
