"""AMS transform presets as typed values: parse and validate the wire JSON.

:func:`parse_preset` takes the JSON of a ``TransformOutput.preset`` exactly as
the ``azure-mgmt-media`` SDK sends it (keys from the SDK's ``_attribute_map``,
``@odata.type`` discriminators from its ``_subtype_map``) and returns a
:class:`BuiltInPreset` or a :class:`StandardPreset`. Everything the encoder
cannot honour is rejected here, at transform creation, with a message that
names the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from openvod.encoding.filters import Filters, parse_filters
from openvod.encoding.wire import (
    Dimension,
    Position,
    as_list,
    as_mapping,
    fail,
    opt_bool,
    opt_choice,
    opt_dimension,
    opt_duration,
    opt_float,
    opt_int,
    opt_position,
    opt_str,
    parse_frame_rate,
)
from openvod.errors import InvalidPresetError

ODATA = "@odata.type"
NS = "#Microsoft.Media."
COMPLEXITIES = ("Speed", "Balanced", "Quality")
STRETCH_MODES = ("None", "AutoSize", "AutoFit")
SYNC_MODES = ("Auto", "Passthrough", "Cfr", "Vfr")
H264_PROFILES = ("Auto", "Baseline", "Main", "High", "High422", "High444")
RATE_CONTROL_MODES = ("ABR", "CBR", "CRF")
AAC_PROFILES = ("AacLc", "HeAacV1", "HeAacV2")

Complexity = Literal["Speed", "Balanced", "Quality"]
StretchMode = Literal["None", "AutoSize", "AutoFit"]
RateControlMode = Literal["ABR", "CBR", "CRF"]
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


@dataclass(frozen=True)
class AacAudio:
    """``#Microsoft.Media.AacAudio``."""

    label: str | None = None
    channels: int = 2
    sampling_rate: int = 48000
    bitrate_bps: int = 128000
    profile: str = "AacLc"


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


Codec = H264Video | AacAudio | CopyVideo | CopyAudio | ImageCodec


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
    """Parse and validate a preset's wire JSON; raise InvalidPresetError naming the bad field."""
    from openvod.encoding.builtin import check_builtin_name  # builtin imports this module

    obj = as_mapping(preset, "preset")
    kind = obj.get(ODATA)
    if kind == NS + "BuiltInStandardEncoderPreset":
        name = opt_str(obj, "presetName", "preset")
        if not name:
            raise fail("preset.presetName", "is required")
        config = obj.get("configurations")
        configurations = (
            PresetConfigurations()
            if config is None
            else _parse_configurations(as_mapping(config, "preset.configurations"))
        )
        return BuiltInPreset(check_builtin_name(name), configurations)
    if kind == NS + "StandardEncoderPreset":
        return _parse_standard(obj)
    if kind in (NS + "AudioAnalyzerPreset", NS + "VideoAnalyzerPreset", NS + "FaceDetectorPreset"):
        raise InvalidPresetError(f"{kind} is not an encoding preset; the encoder cannot run it")
    raise fail("preset.@odata.type", f"is not a supported preset type: {kind!r}")


def _parse_configurations(obj: Mapping[str, Any]) -> PresetConfigurations:
    path = "preset.configurations"
    interleave = opt_choice(
        obj, "interleaveOutput", path, ("NonInterleavedOutput", "InterleavedOutput")
    )
    config = PresetConfigurations(
        complexity=opt_choice(obj, "complexity", path, COMPLEXITIES),  # type: ignore[arg-type]
        interleave_output=None if interleave is None else interleave == "InterleavedOutput",
        key_frame_interval_seconds=opt_float(obj, "keyFrameIntervalInSeconds", path),
        max_bitrate_bps=opt_int(obj, "maxBitrateBps", path, minimum=1),
        min_bitrate_bps=opt_int(obj, "minBitrateBps", path, minimum=1),
        max_height=opt_int(obj, "maxHeight", path, minimum=2),
        min_height=opt_int(obj, "minHeight", path, minimum=2),
        max_layers=opt_int(obj, "maxLayers", path, minimum=1),
    )
    if config.key_frame_interval_seconds is not None:
        _check_key_frame_interval(
            config.key_frame_interval_seconds, path + ".keyFrameIntervalInSeconds"
        )
    return config


def _check_key_frame_interval(seconds: float, path: str) -> None:
    if not 0.5 <= seconds <= 20:
        raise fail(path, f"must be between 0.5 and 20 seconds, got {seconds:g}")


def _parse_standard(obj: Mapping[str, Any]) -> StandardPreset:
    codecs_json = as_list(obj.get("codecs") or [], "preset.codecs")
    formats_json = as_list(obj.get("formats") or [], "preset.formats")
    if not codecs_json:
        raise fail("preset.codecs", "must list at least one codec")
    if not formats_json:
        raise fail("preset.formats", "must list at least one format")
    codecs = tuple(
        _parse_codec(as_mapping(c, f"codecs[{i}]"), i) for i, c in enumerate(codecs_json)
    )
    formats = tuple(
        _parse_format(as_mapping(f, f"formats[{i}]"), i) for i, f in enumerate(formats_json)
    )
    filters_json = obj.get("filters")
    filters = (
        Filters() if filters_json is None else parse_filters(as_mapping(filters_json, "filters"))
    )
    result = StandardPreset(codecs, formats, filters)
    _check_consistency(result)
    return result


def _parse_codec(obj: Mapping[str, Any], index: int) -> Codec:
    path = f"codecs[{index}]"
    kind = obj.get(ODATA)
    label = opt_str(obj, "label", path)
    if kind == NS + "H264Video":
        return _parse_h264(obj, path)
    if kind == NS + "AacAudio":
        return AacAudio(
            label=label,
            channels=opt_int(obj, "channels", path, minimum=1) or 2,
            sampling_rate=opt_int(obj, "samplingRate", path, minimum=8000) or 48000,
            bitrate_bps=opt_int(obj, "bitrate", path, minimum=8000) or 128000,
            profile=opt_choice(obj, "profile", path, AAC_PROFILES) or "AacLc",
        )
    if kind == NS + "CopyVideo":
        return CopyVideo(label)
    if kind == NS + "CopyAudio":
        return CopyAudio(label)
    if kind in (NS + "PngImage", NS + "JpgImage"):
        return _parse_image(obj, path, "png" if kind == NS + "PngImage" else "jpg")
    if kind in (NS + "H265Video", NS + "DDAudio"):
        raise fail(f"{path}.@odata.type", f"{kind} is not supported; use H264Video / AacAudio")
    raise fail(f"{path}.@odata.type", f"is not a supported codec type: {kind!r}")


def _parse_h264(obj: Mapping[str, Any], path: str) -> H264Video:
    layers_json = as_list(obj.get("layers") or [], f"{path}.layers")
    if not layers_json:
        raise fail(f"{path}.layers", "must list at least one layer")
    rate_control = opt_choice(obj, "rateControlMode", path, RATE_CONTROL_MODES) or "ABR"
    layers = tuple(
        _parse_h264_layer(
            as_mapping(layer, f"{path}.layers[{i}]"), f"{path}.layers[{i}]", rate_control
        )
        for i, layer in enumerate(layers_json)
    )
    interval = opt_duration(obj, "keyFrameInterval", path)
    if interval is not None:
        _check_key_frame_interval(interval, f"{path}.keyFrameInterval")
    opt_choice(obj, "syncMode", path, SYNC_MODES)  # validated; output is always CFR
    return H264Video(
        layers=layers,
        label=opt_str(obj, "label", path),
        key_frame_interval_seconds=2.0 if interval is None else interval,
        complexity=opt_choice(obj, "complexity", path, COMPLEXITIES) or "Balanced",  # type: ignore[arg-type]
        stretch_mode=opt_choice(obj, "stretchMode", path, STRETCH_MODES) or "AutoSize",  # type: ignore[arg-type]
        scene_change_detection=bool(opt_bool(obj, "sceneChangeDetection", path)),
        rate_control_mode=rate_control,  # type: ignore[arg-type]
    )


def _parse_h264_layer(obj: Mapping[str, Any], path: str, rate_control: str) -> H264Layer:
    bitrate = opt_int(obj, "bitrate", path, minimum=1000)
    if bitrate is None:
        raise fail(f"{path}.bitrate", "is required (bits per second, e.g. 3000000)")
    profile = opt_choice(obj, "profile", path, H264_PROFILES) or "Auto"
    if profile in ("High422", "High444"):
        raise fail(f"{path}.profile", f"{profile} is not supported: openvod encodes 4:2:0 video")
    crf = opt_float(obj, "crf", path)
    if crf is not None and not 0 <= crf <= 51:
        raise fail(f"{path}.crf", f"must be between 0 and 51, got {crf:g}")
    level = opt_str(obj, "level", path)
    if level is not None and level.lower() != "auto" and not _is_level(level):
        raise fail(
            f"{path}.level", f"must be 'auto' or an H.264 level such as '3.1', got {level!r}"
        )
    window = opt_duration(obj, "bufferWindow", path)
    if window is not None and not 0.1 <= window <= 100:
        raise fail(f"{path}.bufferWindow", f"must be between 0.1 and 100 seconds, got {window:g}")
    return H264Layer(
        bitrate_bps=bitrate,
        width=opt_dimension(obj, "width", path),
        height=opt_dimension(obj, "height", path),
        label=opt_str(obj, "label", path),
        max_bitrate_bps=opt_int(obj, "maxBitrate", path, minimum=1000),
        buffer_window_seconds=5.0 if window is None else window,
        profile=profile,
        level=None if level is None or level.lower() == "auto" else level,
        b_frames=opt_int(obj, "bFrames", path),
        reference_frames=opt_int(obj, "referenceFrames", path, minimum=1),
        entropy_mode=opt_choice(obj, "entropyMode", path, ("Cabac", "Cavlc")),
        crf=crf if rate_control == "CRF" else None,
        adaptive_b_frame=opt_bool(obj, "adaptiveBFrame", path),
        slices=opt_int(obj, "slices", path),
        frame_rate=parse_frame_rate(obj, "frameRate", path),
    )


def _is_level(text: str) -> bool:
    try:
        return 1.0 <= float(text) <= 6.2
    except ValueError:
        return False


def _parse_image(obj: Mapping[str, Any], path: str, kind: ImageKind) -> ImageCodec:
    layers_json = as_list(obj.get("layers") or [{}], f"{path}.layers")
    layers = []
    for i, layer_json in enumerate(layers_json):
        layer_path = f"{path}.layers[{i}]"
        layer = as_mapping(layer_json, layer_path)
        quality = opt_int(layer, "quality", layer_path) if kind == "jpg" else None
        if quality is not None and quality > 100:
            raise fail(f"{layer_path}.quality", f"must be between 0 and 100, got {quality}")
        layers.append(
            ImageLayer(
                width=opt_dimension(layer, "width", layer_path),
                height=opt_dimension(layer, "height", layer_path),
                label=opt_str(layer, "label", layer_path),
                quality=quality,
            )
        )
    sprite = opt_int(obj, "spriteColumn", path) if kind == "jpg" else None
    return ImageCodec(
        kind=kind,
        layers=tuple(layers),
        label=opt_str(obj, "label", path),
        start=opt_position(obj, "start", path, allow_best=True) or Position("best"),
        step=opt_position(obj, "step", path) or Position("percent", 10.0),
        range=opt_position(obj, "range", path) or Position("percent", 100.0),
        sprite_column=sprite or None,
        stretch_mode=opt_choice(obj, "stretchMode", path, STRETCH_MODES) or "AutoSize",  # type: ignore[arg-type]
    )


def _parse_format(obj: Mapping[str, Any], index: int) -> Format:
    path = f"formats[{index}]"
    kind = obj.get(ODATA)
    pattern = opt_str(obj, "filenamePattern", path)
    if not pattern:
        raise fail(f"{path}.filenamePattern", "is required, e.g. '{Basename}_{Label}{Extension}'")
    if "/" in pattern or "\\" in pattern:
        raise fail(f"{path}.filenamePattern", "must not contain '/' or '\\'")
    if kind in (NS + "Mp4Format", NS + "TransportStreamFormat"):
        files = []
        for i, entry in enumerate(as_list(obj.get("outputFiles") or [], f"{path}.outputFiles")):
            entry_path = f"{path}.outputFiles[{i}]"
            labels = as_list(
                as_mapping(entry, entry_path).get("labels") or [], f"{entry_path}.labels"
            )
            if not labels or not all(isinstance(label, str) for label in labels):
                raise fail(f"{entry_path}.labels", "must be a non-empty list of layer labels")
            files.append(tuple(labels))
        container: Container = "mp4" if kind == NS + "Mp4Format" else "ts"
        return MultiBitrateFormat(container, pattern, tuple(files))
    if kind in (NS + "PngFormat", NS + "JpgFormat"):
        return ImageFormat("png" if kind == NS + "PngFormat" else "jpg", pattern)
    raise fail(f"{path}.@odata.type", f"is not a supported format type: {kind!r}")


def codec_labels(preset: StandardPreset) -> dict[str, str]:
    """Map every layer/codec label to 'video', 'audio' or 'image'."""
    labels: dict[str, str] = {}
    for codec in preset.codecs:
        if isinstance(codec, H264Video):
            named = [(layer.label, "video") for layer in codec.layers]
        elif isinstance(codec, ImageCodec):
            named = [(codec.label, "image")] + [(layer.label, "image") for layer in codec.layers]
        else:
            named = [(codec.label, "video" if isinstance(codec, CopyVideo) else "audio")]
        for label, kind in named:
            if label is None:
                continue
            if label in labels:
                raise InvalidPresetError(f"Invalid preset: the label {label!r} is used twice")
            labels[label] = kind
    return labels


def _check_consistency(preset: StandardPreset) -> None:
    labels = codec_labels(preset)
    has_av = any(not isinstance(c, ImageCodec) for c in preset.codecs)
    image_kinds = {c.kind for c in preset.codecs if isinstance(c, ImageCodec)}
    format_image_kinds = {f.kind for f in preset.formats if isinstance(f, ImageFormat)}
    has_av_format = any(isinstance(f, MultiBitrateFormat) for f in preset.formats)
    if has_av and not has_av_format:
        raise fail(
            "formats", "need an Mp4Format or TransportStreamFormat for the audio/video codecs"
        )
    if has_av_format and not has_av:
        raise fail("codecs", "need a video or audio codec for the Mp4Format/TransportStreamFormat")
    for kind in image_kinds - format_image_kinds:
        raise fail(
            "formats", f"need a {kind.capitalize()}Format for the {kind.capitalize()}Image codec"
        )
    for kind in format_image_kinds - image_kinds:
        raise fail(
            "codecs", f"need a {kind.capitalize()}Image codec for the {kind.capitalize()}Format"
        )
    for i, fmt in enumerate(preset.formats):
        if isinstance(fmt, MultiBitrateFormat):
            _check_output_files(fmt, labels, i)


def _check_output_files(fmt: MultiBitrateFormat, labels: Mapping[str, str], index: int) -> None:
    for j, entry in enumerate(fmt.output_files):
        path = f"formats[{index}].outputFiles[{j}].labels"
        for label in entry:
            if labels.get(label) not in ("video", "audio"):
                raise fail(path, f"names {label!r}, which is no video layer or audio codec label")
        if sum(labels[label] == "video" for label in entry) > 1:
            raise fail(path, "may hold at most one video layer per file")
