"""AMS transform presets as the encoder's values: resolved units, AMS defaults filled in.

The wire form (and all validation) is :mod:`openvod.resources.presets`;
:func:`read_preset` turns a validated model into a :class:`BuiltInPreset` or a
:class:`StandardPreset`, and :func:`parse_preset` validates stored JSON first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from pydantic import ValidationError

from openvod.clock import parse_duration
from openvod.encoding.filters import Filters, read_filters
from openvod.errors import InvalidPresetError
from openvod.resources import presets as wire
from openvod.resources.base import error_path, validation_error
from openvod.resources.preset_values import (
    Dimension,
    Position,
    parse_dimension,
    parse_frame_rate,
    parse_level,
    parse_position,
    parse_start,
)

Complexity = wire.ComplexityName
StretchMode = wire.StretchModeName
RateControlMode = wire.RateControlName
ImageKind = Literal["png", "jpg"]
Container = Literal["mp4", "ts"]


@dataclass(frozen=True)
class H264Layer:
    """One output rendition of an H.264 codec (``#Microsoft.Media.H264Layer``)."""

    bitrate_bps: int
    width: Dimension | None = None
    height: Dimension | None = None
    label: str | None = None
    max_bitrate_bps: int | None = None
    buffer_window_seconds: float = 5.0
    profile: str = "Auto"
    level: str | None = None  # None: let x264 pick
    b_frames: int | None = None
    reference_frames: int | None = None
    entropy_mode: str | None = None  # "Cabac" | "Cavlc"
    crf: float | None = None
    adaptive_b_frame: bool | None = None
    slices: int | None = None
    frame_rate: Fraction | None = None  # None: the source's


@dataclass(frozen=True)
class H264Video:
    """``#Microsoft.Media.H264Video``: GOP-aligned H.264 layers."""

    layers: tuple[H264Layer, ...]
    label: str | None = None
    key_frame_interval_seconds: float = 2.0
    complexity: Complexity = "Balanced"
    stretch_mode: StretchMode = "AutoSize"
    scene_change_detection: bool = False
    rate_control_mode: RateControlMode = "ABR"
    # Keyframes at these source times instead of every key_frame_interval (Saas*Aligned presets).
    key_frame_times: tuple[float, ...] | None = None


@dataclass(frozen=True)
class H265Video(H264Video):
    """``#Microsoft.Media.H265Video``: HEVC layers (libx265, ``hvc1``), GOP-aligned like H.264.

    It carries the same fields as :class:`H264Video` (AMS's two models share
    them; ``entropyMode`` does not exist for HEVC, which is always CABAC), so
    planning treats both alike and only the encoder options differ.
    """


@dataclass(frozen=True)
class AacAudio:
    """``#Microsoft.Media.AacAudio``."""

    label: str | None = None
    channels: int = 2
    sampling_rate: int = 48000
    bitrate_bps: int = 128000
    profile: str = "AacLc"


@dataclass(frozen=True)
class DDAudio(AacAudio):
    """``#Microsoft.Media.DDAudio``: Dolby Digital (AC-3), 192 kbps stereo unless asked."""

    bitrate_bps: int = 192000


@dataclass(frozen=True)
class CopyVideo:
    """``#Microsoft.Media.CopyVideo``: the source video stream, not re-encoded."""

    label: str | None = None


@dataclass(frozen=True)
class CopyAudio:
    """``#Microsoft.Media.CopyAudio``: the source audio stream, not re-encoded."""

    label: str | None = None


@dataclass(frozen=True)
class ImageLayer:
    """One thumbnail size (``PngLayer`` / ``JpgLayer``); ``quality`` is JPEG-only (0..100)."""

    width: Dimension | None = None
    height: Dimension | None = None
    label: str | None = None
    quality: int | None = None


@dataclass(frozen=True)
class ImageCodec:
    """``#Microsoft.Media.PngImage`` / ``JpgImage``: thumbnails at start, every step, over range."""

    kind: ImageKind
    layers: tuple[ImageLayer, ...]
    label: str | None = None
    start: Position = Position("best")
    step: Position = Position("percent", 10.0)
    range: Position = Position("percent", 100.0)
    sprite_column: int | None = None
    stretch_mode: StretchMode = "AutoSize"


Codec = H264Video | AacAudio | CopyVideo | CopyAudio | ImageCodec  # incl. H265Video, DDAudio


@dataclass(frozen=True)
class MultiBitrateFormat:
    """``Mp4Format`` / ``TransportStreamFormat``; ``output_files`` groups layer labels per file."""

    container: Container
    filename_pattern: str
    output_files: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ImageFormat:
    """``PngFormat`` / ``JpgFormat``."""

    kind: ImageKind
    filename_pattern: str


Format = MultiBitrateFormat | ImageFormat


@dataclass(frozen=True)
class StandardPreset:
    """``#Microsoft.Media.StandardEncoderPreset``."""

    codecs: tuple[Codec, ...]
    formats: tuple[Format, ...]
    filters: Filters = field(default_factory=Filters)


@dataclass(frozen=True)
class PresetConfigurations:
    """Optional ``configurations`` of a built-in preset (AdaptiveStreaming / content-aware)."""

    complexity: Complexity | None = None
    interleave_output: bool | None = None
    key_frame_interval_seconds: float | None = None
    max_bitrate_bps: int | None = None
    min_bitrate_bps: int | None = None
    max_height: int | None = None
    min_height: int | None = None
    max_layers: int | None = None


@dataclass(frozen=True)
class BuiltInPreset:
    """``#Microsoft.Media.BuiltInStandardEncoderPreset``; expanded by :mod:`.builtin`."""

    name: str
    configurations: PresetConfigurations = field(default_factory=PresetConfigurations)


Preset = BuiltInPreset | StandardPreset


def parse_preset(preset: Mapping[str, Any]) -> Preset:
    """Validate a preset's wire JSON and read it; InvalidPresetError names the bad field."""
    try:
        model = wire.PRESET.validate_python(preset)
    except ValidationError as exc:
        first = exc.errors()[0]
        sentence = (first.get("ctx") or {}).get("sentence")
        if sentence:  # a message that starts with the value it refuses
            raise InvalidPresetError(f"{sentence} (at '{error_path(first, 'preset')}')") from None
        raise InvalidPresetError(validation_error(exc, "preset").message) from None
    if isinstance(model, wire.AudioAnalyzerPreset | wire.VideoAnalyzerPreset):
        raise InvalidPresetError(
            f"{model.odata_type} is an analyzer preset, not an encoding preset")
    return read_preset(model)


def read_preset(model: wire.BuiltInStandardEncoderPreset | wire.StandardEncoderPreset) -> Preset:
    """The encoder's view of a validated preset model."""
    if isinstance(model, wire.BuiltInStandardEncoderPreset):
        return BuiltInPreset(model.preset_name, _configurations(model.configurations))
    return StandardPreset(
        codecs=tuple(_codec(codec) for codec in model.codecs),
        formats=tuple(_format(fmt) for fmt in model.formats),
        filters=Filters() if model.filters is None else read_filters(model.filters),
    )


def _configurations(config: wire.PresetConfigurations | None) -> PresetConfigurations:
    if config is None:
        return PresetConfigurations()
    interleave = config.interleave_output
    return PresetConfigurations(
        complexity=config.complexity,
        interleave_output=None if interleave is None else interleave == "InterleavedOutput",
        key_frame_interval_seconds=config.key_frame_interval_in_seconds,
        max_bitrate_bps=config.max_bitrate_bps,
        min_bitrate_bps=config.min_bitrate_bps,
        max_height=config.max_height,
        min_height=config.min_height,
        max_layers=config.max_layers,
    )


def _seconds(text: str | None, default: float) -> float:
    return default if text is None else parse_duration(text).total_seconds()


def _dimension(text: str | None) -> Dimension | None:
    return None if text is None else parse_dimension(text)


def _codec(codec: wire.Codec) -> Codec:
    if isinstance(codec, wire.H264Video):
        return _h264(codec)
    if isinstance(codec, wire.H265Video):
        return _h265(codec)
    if isinstance(codec, wire.DDAudio):
        return DDAudio(
            label=codec.label,
            channels=codec.channels or 2,
            sampling_rate=codec.sampling_rate or 48000,
            bitrate_bps=codec.bitrate or 192000,
            profile="DD",
        )
    if isinstance(codec, wire.AacAudio):
        return AacAudio(
            label=codec.label,
            channels=codec.channels or 2,
            sampling_rate=codec.sampling_rate or 48000,
            bitrate_bps=codec.bitrate or 128000,
            profile=codec.profile or "AacLc",
        )
    if isinstance(codec, wire.CopyVideo):
        return CopyVideo(codec.label)
    if isinstance(codec, wire.CopyAudio):
        return CopyAudio(codec.label)
    return _image(codec)


def _h264(codec: wire.H264Video) -> H264Video:
    rate_control = codec.rate_control_mode or "ABR"
    return H264Video(
        layers=tuple(_h264_layer(layer, rate_control) for layer in codec.layers),
        label=codec.label,
        key_frame_interval_seconds=_seconds(codec.key_frame_interval, 2.0),
        complexity=codec.complexity or "Balanced",
        stretch_mode=codec.stretch_mode or "AutoSize",
        scene_change_detection=bool(codec.scene_change_detection),
        rate_control_mode=rate_control,
    )


def _h265(codec: wire.H265Video) -> H265Video:
    return H265Video(
        layers=tuple(_h265_layer(layer) for layer in codec.layers),
        label=codec.label,
        key_frame_interval_seconds=_seconds(codec.key_frame_interval, 2.0),
        complexity=codec.complexity or "Balanced",
        stretch_mode=codec.stretch_mode or "AutoSize",
        scene_change_detection=bool(codec.scene_change_detection),
    )


def _video_layer(
    layer: wire.H264Layer | wire.H265Layer,
    *,
    entropy_mode: str | None = None,
    crf: float | None = None,
) -> H264Layer:
    """One H.264 or H.265 layer as the encoder plans it (the codecs share the fields)."""
    return H264Layer(
        bitrate_bps=layer.bitrate,
        width=_dimension(layer.width),
        height=_dimension(layer.height),
        label=layer.label,
        max_bitrate_bps=layer.max_bitrate,
        buffer_window_seconds=_seconds(layer.buffer_window, 5.0),
        profile=layer.profile or "Auto",
        level=None if layer.level is None else parse_level(layer.level),
        b_frames=layer.b_frames,
        reference_frames=layer.reference_frames,
        entropy_mode=entropy_mode,
        crf=crf,
        adaptive_b_frame=layer.adaptive_b_frame,
        slices=layer.slices,
        frame_rate=None if layer.frame_rate is None else parse_frame_rate(layer.frame_rate),
    )


def _h265_layer(layer: wire.H265Layer) -> H264Layer:
    return _video_layer(layer)


def _h264_layer(layer: wire.H264Layer, rate_control: str) -> H264Layer:
    return _video_layer(layer, entropy_mode=layer.entropy_mode,
                        crf=layer.crf if rate_control == "CRF" else None)  # fmt: skip


def _image(codec: wire.PngImage | wire.JpgImage) -> ImageCodec:
    is_jpg = isinstance(codec, wire.JpgImage)
    layers = tuple(
        ImageLayer(
            width=_dimension(layer.width),
            height=_dimension(layer.height),
            label=layer.label,
            quality=layer.quality if isinstance(layer, wire.JpgLayer) else None,
        )
        for layer in codec.layers or [wire.JpgLayer() if is_jpg else wire.PngLayer()]
    )
    return ImageCodec(
        kind="jpg" if is_jpg else "png",
        layers=layers,
        label=codec.label,
        start=Position("best") if codec.start is None else parse_start(codec.start),
        step=Position("percent", 10.0) if codec.step is None else parse_position(codec.step),
        range=Position("percent", 100.0) if codec.range is None else parse_position(codec.range),
        sprite_column=(codec.sprite_column or None) if isinstance(codec, wire.JpgImage) else None,
        stretch_mode=codec.stretch_mode or "AutoSize",
    )


def _format(fmt: wire.Format) -> Format:
    if isinstance(fmt, wire.Mp4Format | wire.TransportStreamFormat):
        files = tuple(tuple(entry.labels) for entry in fmt.output_files or [])
        container: Container = "mp4" if isinstance(fmt, wire.Mp4Format) else "ts"
        return MultiBitrateFormat(container, fmt.filename_pattern, files)
    return ImageFormat("png" if isinstance(fmt, wire.PngFormat) else "jpg", fmt.filename_pattern)
