"""The built-in AMS presets (``BuiltInStandardEncoderPreset.presetName``).

Each built-in is expanded into a :class:`StandardPreset` before planning.
The fixed ladders follow the Media Encoder Standard presets AMS published
(GOP 2 s, B-frames 3, reference frames 3, 5 s VBV window, AAC-LC 128 kbps
stereo 48 kHz interleaved into every video MP4, files named
``{Basename}_{Width}x{Height}_{VideoBitrate}.mp4``).

``AdaptiveStreaming`` derives its ladder from the source as AMS's
auto-generated ladder did: never above the source's height (nor 1080 unless
``maxHeight`` asks for more), never above the source's video bitrate, rungs at
the standard heights below the top, widths from the source's display aspect
ratio, video-only MP4s plus one audio-only MP4 (non-interleaved). The
content-aware names shape that ladder per title (:mod:`.content_aware`);
the H265 names encode HEVC at ``HEVC_BITRATE_FACTOR`` of the H.264 rates;
the ``Saas*`` names copy the source and add proxies keyed on its keyframes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from openvod.encoding.content_aware import LadderShape, decide_ladder
from openvod.encoding.presets import (
    AacAudio,
    BuiltInPreset,
    Codec,
    CopyAudio,
    CopyVideo,
    DDAudio,
    Format,
    H264Layer,
    H264Video,
    H265Video,
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
    "H265SingleBitrate720p": ((1280, 720, 1800),),
    "H265SingleBitrate1080p": ((1920, 1080, 3500),),
    "H265SingleBitrate4K": ((3840, 2160, 9500),),
}  # fmt: skip
HEVC_NAMES = frozenset(
    {"H265AdaptiveStreaming", "H265ContentAwareEncoding", "H265SingleBitrate720p",
     "H265SingleBitrate1080p", "H265SingleBitrate4K"}
)  # fmt: skip
CONTENT_AWARE = frozenset(
    {"ContentAwareEncoding", "ContentAwareEncodingExperimental", "H265ContentAwareEncoding"}
)
ADAPTIVE_NAMES = CONTENT_AWARE | {ADAPTIVE, "H265AdaptiveStreaming"}
# Saas*: the source copied into one MP4, plus proxy heights whose keyframes are the source's.
SAAS_PROXIES: dict[str, tuple[int, ...]] = {
    "SaasCopyCodec": (),
    "SaasProxyCopyCodec": (360,),
    "SaasSourceAligned360pOnly": (360,),
    "SaasSourceAligned540pOnly": (540,),
    "SaasSourceAligned360p": (360, 180),
    "SaasSourceAligned540p": (540, 360),
}
HEVC_BITRATE_FACTOR = 0.55  # AMS's H265 single-bitrate presets use ~0.4-0.52x the H.264 rates
DD_GOOD_QUALITY_BPS = 192_000  # AMS: "DD(Digital Dolby) stereo audio encoded at 192 kbps"
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
class SourceAnalysis:
    """Measurements some built-ins need (:mod:`.analysis` makes them; None: not measured)."""

    bits_per_pixel: float | None = None  # content-aware probe encode
    key_frame_times: tuple[float, ...] | None = None  # the source's keyframes (Saas*)


def needs_complexity(name: str) -> bool:
    """Whether the built-in ``name`` needs the content-aware probe encode."""
    return name in CONTENT_AWARE


def needs_key_frames(name: str) -> bool:
    """Whether the built-in ``name`` keys its proxies on the source's keyframes."""
    return bool(SAAS_PROXIES.get(name))


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
    shape: LadderShape | None = None,
) -> list[Rung]:
    """The AdaptiveStreaming ladder for a source of ``width`` x ``height`` display pixels.

    Rungs step the short side of the picture, so a portrait 1080x1920 source
    gets 1080x1920, 720x1280, ... as a landscape one would. ``shape`` (the
    content-aware decision) scales every rate and caps the number of rungs.
    """
    if width < height:
        turned = adaptive_ladder(height, width, frame_rate, video_bitrate_bps, config, shape)
        return [Rung(r.height, r.width, r.bitrate_bps) for r in turned]
    shape = shape or LadderShape(1.0, None)
    max_height = config.max_height or DEFAULT_MAX_HEIGHT
    min_height = config.min_height or DEFAULT_MIN_HEIGHT
    top = min(height, max_height)
    heights = [top] + [h for h in STANDARD_HEIGHTS if h <= top * 0.85 and h >= min_height]
    rates = [
        int(reference_bitrate_bps(h, float(frame_rate)) * shape.bitrate_factor) for h in heights
    ]
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
    caps = [c for c in (config.max_layers, shape.max_layers) if c]
    return _limit_layers(rungs, min(caps) if caps else None)


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
    analysis: SourceAnalysis | None = None,
) -> StandardPreset:
    """The StandardPreset a built-in stands for, for a source of the given display size."""
    name, config = preset.name, preset.configurations
    analysis = analysis or SourceAnalysis()
    hevc = name in HEVC_NAMES
    if name in ADAPTIVE_NAMES:
        if width <= 0 or height <= 0:  # no picture: planning reports the missing video
            width, height = 1920, 1080
        shape = _shape(name, config, analysis, hevc)
        rungs = adaptive_ladder(width, height, frame_rate, video_bitrate_bps, config, shape)
        layers = tuple((r.width, r.height, r.bitrate_bps // 1000) for r in rungs)
        # AMS: AdaptiveStreaming is non-interleaved, the content-aware outputs interleaved.
        interleave = config.interleave_output
        interleaved = name in CONTENT_AWARE if interleave is None else interleave
        return _ladder_preset(layers, config, interleaved=interleaved, hevc=hevc)
    if name in FIXED_LADDERS:
        interleaved = config.interleave_output is not False
        return _ladder_preset(FIXED_LADDERS[name], config, interleaved=interleaved, hevc=hevc)
    if name in SAAS_PROXIES:
        return _saas_preset(name, width, height, frame_rate, analysis)
    return _single_purpose(name)


def _shape(
    name: str, config: PresetConfigurations, analysis: SourceAnalysis, hevc: bool
) -> LadderShape:
    """The content-aware decision (or the plain ladder), with HEVC's lower rates applied."""
    shape = LadderShape(1.0, None)
    # Unmeasured only when the source has no picture, which planning then refuses.
    if name in CONTENT_AWARE and analysis.bits_per_pixel is not None:
        shape = decide_ladder(analysis.bits_per_pixel, config.max_layers)
    if hevc:
        shape = LadderShape(shape.bitrate_factor * HEVC_BITRATE_FACTOR, shape.max_layers)
    return shape


def _single_purpose(name: str) -> StandardPreset:
    """The audio-only and copy presets."""
    if name == "AACGoodQualityAudio":
        audio = AacAudio(label=AUDIO_LABEL, bitrate_bps=AAC_GOOD_QUALITY_BPS)
        return StandardPreset((audio,), (MultiBitrateFormat("mp4", AUDIO_PATTERN),))
    if name == "DDGoodQualityAudio":
        dd = DDAudio(label="DDAudio", bitrate_bps=DD_GOOD_QUALITY_BPS)
        pattern = "{Basename}_DDAudio_{Bitrate}{Extension}"
        return StandardPreset((dd,), (MultiBitrateFormat("mp4", pattern),))
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
    raise InvalidPresetError(f"{name} is not a supported built-in preset")


def _saas_preset(
    name: str, width: int, height: int, frame_rate: Fraction, analysis: SourceAnalysis
) -> StandardPreset:
    """The source copied into ``{Basename}.mp4`` plus video-only H.264 proxies on its GOPs."""
    copy_format = MultiBitrateFormat("mp4", "{Basename}{Extension}", (("video", "audio"),))
    codecs: list[Codec] = [CopyVideo("video"), CopyAudio("audio")]
    formats: list[Format] = [copy_format]
    heights = SAAS_PROXIES[name]
    if heights:
        if not analysis.key_frame_times:
            raise InvalidPresetError(f"{name} needs the source's keyframe times")
        short, long = min(width, height) or 1, max(width, height) or 1
        layers = []
        for h in heights:
            w = even(h * long / short)
            size = (w, h) if width >= height else (h, w)
            kbps = reference_bitrate_bps(h, float(frame_rate)) // 1000
            layers.append(_layer(size[0], size[1], kbps))
        codecs.append(H264Video(layers=tuple(layers), key_frame_times=analysis.key_frame_times))
        files = tuple((layer.label,) for layer in layers if layer.label)
        formats.append(MultiBitrateFormat("mp4", VIDEO_PATTERN, files))
    return StandardPreset(tuple(codecs), tuple(formats))


def _layer(w: int, h: int, kbps: int) -> H264Layer:
    return H264Layer(
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


def _ladder_preset(
    ladder: tuple[tuple[int, int, int], ...],
    config: PresetConfigurations,
    *,
    interleaved: bool,
    hevc: bool = False,
) -> StandardPreset:
    layers = tuple(_layer(w, h, kbps) for w, h, kbps in ladder)
    kind = H265Video if hevc else H264Video
    video = kind(
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
