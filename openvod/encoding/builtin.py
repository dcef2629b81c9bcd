"""The built-in AMS presets (``BuiltInStandardEncoderPreset.presetName``).

Each built-in is expanded into a :class:`StandardPreset` before planning.
The fixed ladders follow the Media Encoder Standard presets AMS published
(GOP 2 s, B-frames 3, reference frames 3, 5 s VBV window, AAC-LC 128 kbps
stereo 48 kHz interleaved into every video MP4, files named
``{Basename}_{Width}x{Height}_{VideoBitrate}.mp4``).

``AdaptiveStreaming`` (and the ``ContentAwareEncoding`` names, which map to it)
derives its ladder from the source as AMS's auto-generated ladder did: never
above the source's height (nor 1080 unless ``maxHeight`` asks for more),
never above the source's video bitrate, rungs at the standard heights below
the top, widths from the source's display aspect ratio, video-only MP4s plus
one audio-only MP4 (non-interleaved).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from openvod.encoding.presets import (
    AacAudio,
    BuiltInPreset,
    Codec,
    CopyAudio,
    CopyVideo,
    Format,
    H264Layer,
    H264Video,
    MultiBitrateFormat,
    PresetConfigurations,
    StandardPreset,
)
from openvod.errors import InvalidPresetError
from openvod.resources.preset_values import Dimension
from openvod.resources.presets import BUILTIN_PRESET_NAMES

ADAPTIVE = "AdaptiveStreaming"
VIDEO_PATTERN = "{Basename}_{Resolution}_{Bitrate}{Extension}"
AUDIO_PATTERN = "{Basename}_AACAudio_{Bitrate}{Extension}"
AUDIO_LABEL = "AACAudio"

# name → ((width, height, kbps), ...); AMS Media Encoder Standard ladders.
FIXED_LADDERS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "H264MultipleBitrate1080p": (
        (1920, 1080, 6000), (1920, 1080, 4700), (1280, 720, 3400), (960, 540, 2250),
        (960, 540, 1500), (640, 360, 1000), (640, 360, 650), (320, 180, 400),
    ),
    "H264MultipleBitrate720p": (
        (1280, 720, 3400), (960, 540, 2250), (960, 540, 1500), (640, 360, 1000),
        (640, 360, 650), (320, 180, 400),
    ),
    "H264MultipleBitrateSD": (
        (848, 480, 1900), (848, 480, 1300), (640, 360, 900), (640, 360, 650), (424, 240, 400),
    ),
    "H264SingleBitrate1080p": ((1920, 1080, 6750),),
    "H264SingleBitrate720p": ((1280, 720, 4500),),
    "H264SingleBitrateSD": ((848, 480, 2200),),
}  # fmt: skip
ALIASES = {
    "ContentAwareEncoding": ADAPTIVE,
    "ContentAwareEncodingExperimental": ADAPTIVE,
}
OTHER_NAMES = ("AACGoodQualityAudio", "CopyCodec", "CopyAllBitrateNonInterleaved")
# The model's presetName enum: expand_builtin knows every one of them (a test checks).
SUPPORTED_NAMES = BUILTIN_PRESET_NAMES
AAC_GOOD_QUALITY_BPS = 192_000  # AMS: "AAC stereo audio encoded at 192 kbps"

# AMS's published auto-generated ladder for a 1080p 29.97 fps source (kbps by
# height), extended to 1440/2160 for sources that ask for them via maxHeight.
REFERENCE_KBPS = {
    2160: 18000,
    1440: 11000,
    1080: 6780,
    720: 3520,
    540: 2210,
    360: 1150,
    270: 720,
    180: 380,
}
STANDARD_HEIGHTS = tuple(sorted(REFERENCE_KBPS, reverse=True))
DEFAULT_MAX_HEIGHT = 1080
DEFAULT_MIN_HEIGHT = 180
MIN_RUNG_BPS = 100_000
REFERENCE_FPS = 29.97


@dataclass(frozen=True)
class Rung:
    """One rung of a derived ladder."""

    width: int
    height: int
    bitrate_bps: int


def even(value: float) -> int:
    """Round to the nearest even number of pixels (H.264 4:2:0 needs even sizes), at least 2."""
    return max(2, int(round(value / 2.0)) * 2)


def reference_bitrate_bps(height: int, frame_rate: float) -> int:
    """The ladder bitrate for ``height`` at ``frame_rate``: log-log interpolation of AMS's table."""
    points = sorted(REFERENCE_KBPS.items())
    low, high = points[0], points[-1]
    for a, b in zip(points, points[1:], strict=False):
        if a[0] <= height <= b[0]:
            low, high = a, b
            break
    else:
        low, high = (points[0], points[1]) if height < points[0][0] else (points[-2], points[-1])
    slope = math.log(high[1] / low[1]) / math.log(high[0] / low[0])
    kbps = low[1] * (height / low[0]) ** slope
    # Fewer frames need fewer bits: AMS's 23.976 fps ladder is ~0.84x its 29.97 one.
    factor = min(1.75, max(0.5, (frame_rate / REFERENCE_FPS) ** 0.8))
    return int(kbps * factor * 1000)


def adaptive_ladder(
    width: int,
    height: int,
    frame_rate: Fraction,
    video_bitrate_bps: int | None,
    config: PresetConfigurations,
) -> list[Rung]:
    """The AdaptiveStreaming ladder for a source of ``width`` x ``height`` display pixels.

    Rungs step the short side of the picture, so a portrait 1080x1920 source
    gets 1080x1920, 720x1280, ... as a landscape one would.
    """
    if width < height:
        turned = adaptive_ladder(height, width, frame_rate, video_bitrate_bps, config)
        return [Rung(r.height, r.width, r.bitrate_bps) for r in turned]
    max_height = config.max_height or DEFAULT_MAX_HEIGHT
    min_height = config.min_height or DEFAULT_MIN_HEIGHT
    top = min(height, max_height)
    heights = [top] + [h for h in STANDARD_HEIGHTS if h <= top * 0.85 and h >= min_height]
    rates = [reference_bitrate_bps(h, float(frame_rate)) for h in heights]
    ceilings = [c for c in (video_bitrate_bps, config.max_bitrate_bps) if c]
    if ceilings and rates[0] > min(ceilings):
        ratio = min(ceilings) / rates[0]  # never above the source: scale the whole ladder
        rates = [int(r * ratio) for r in rates]
    floor = max(MIN_RUNG_BPS, config.min_bitrate_bps or 0)
    rungs = [
        Rung(even(h * width / height), even(h), max(10_000, round(r, -4)))
        for h, r in zip(heights, rates, strict=True)
        if r >= floor or h == top
    ]
    return _limit_layers(rungs, config.max_layers)


def _limit_layers(rungs: list[Rung], max_layers: int | None) -> list[Rung]:
    """Keep ``max_layers`` rungs spread from top to bottom."""
    if not max_layers or len(rungs) <= max_layers:
        return rungs
    if max_layers == 1:
        return rungs[:1]
    last = len(rungs) - 1
    picks = sorted({round(i * last / (max_layers - 1)) for i in range(max_layers)})
    return [rungs[i] for i in picks]


def expand_builtin(
    preset: BuiltInPreset,
    *,
    width: int,
    height: int,
    frame_rate: Fraction,
    video_bitrate_bps: int | None,
) -> StandardPreset:
    """The StandardPreset a built-in stands for, for a source of the given display size."""
    name = ALIASES.get(preset.name, preset.name)
    config = preset.configurations
    if name == ADAPTIVE:
        if width <= 0 or height <= 0:  # no picture: planning reports the missing video
            width, height = 1920, 1080
        rungs = adaptive_ladder(width, height, frame_rate, video_bitrate_bps, config)
        layers = tuple((r.width, r.height, r.bitrate_bps // 1000) for r in rungs)
        return _ladder_preset(layers, config, interleaved=bool(config.interleave_output))
    if name in FIXED_LADDERS:
        interleaved = config.interleave_output is not False
        return _ladder_preset(FIXED_LADDERS[name], config, interleaved=interleaved)
    if name == "AACGoodQualityAudio":
        audio = AacAudio(label=AUDIO_LABEL, bitrate_bps=AAC_GOOD_QUALITY_BPS)
        return StandardPreset((audio,), (MultiBitrateFormat("mp4", AUDIO_PATTERN),))
    if name == "CopyCodec":
        codecs: tuple[Codec, ...] = (CopyVideo("video"), CopyAudio("audio"))
        return StandardPreset(codecs, (MultiBitrateFormat("mp4", "{Basename}{Extension}"),))
    if name == "CopyAllBitrateNonInterleaved":
        formats: tuple[Format, ...] = (
            MultiBitrateFormat("mp4", VIDEO_PATTERN, (("video",),)),
            MultiBitrateFormat(
                "mp4", "{Basename}_{Codec}Audio_{Bitrate}{Extension}", (("audio",),)
            ),
        )
        return StandardPreset((CopyVideo("video"), CopyAudio("audio")), formats)
    raise InvalidPresetError(f"{preset.name} is not a supported built-in preset")


def _ladder_preset(
    ladder: tuple[tuple[int, int, int], ...], config: PresetConfigurations, *, interleaved: bool
) -> StandardPreset:
    layers = tuple(
        H264Layer(
            bitrate_bps=kbps * 1000,
            width=Dimension(w),
            height=Dimension(h),
            label=f"{w}x{h}_{kbps}",
            buffer_window_seconds=5.0,
            b_frames=3,
            reference_frames=3,
            adaptive_b_frame=True,
            entropy_mode="Cabac",
        )
        for w, h, kbps in ladder
    )
    video = H264Video(
        layers=layers,
        key_frame_interval_seconds=config.key_frame_interval_seconds or 2.0,
        complexity=config.complexity or "Balanced",
    )
    audio = AacAudio(label=AUDIO_LABEL)
    if interleaved:
        formats: tuple[Format, ...] = (MultiBitrateFormat("mp4", VIDEO_PATTERN),)
    else:
        video_files = tuple((layer.label,) for layer in layers if layer.label)
        formats = (
            MultiBitrateFormat("mp4", VIDEO_PATTERN, video_files),
            MultiBitrateFormat("mp4", AUDIO_PATTERN, ((AUDIO_LABEL,),)),
        )
    return StandardPreset((video, audio), formats)
