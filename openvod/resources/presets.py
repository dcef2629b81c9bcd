"""Transform presets as the ``azure-mgmt-media`` 10.2.1 SDK serializes them.

Field names, nesting and ``@odata.type`` tags follow the SDK's models; the
types are narrowed to what openvod's encoder runs today, so a preset that
validates here is one the encoder can honour (the one exception is the
source itself: a preset asking for video on an audio-only file fails at job
time). :mod:`openvod.encoding.presets` reads these models into encoder values.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, TypeAdapter, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from openvod.clock import parse_duration
from openvod.resources.analyzer_presets import AudioAnalyzerPreset, VideoAnalyzerPreset
from openvod.resources.base import ArmModel, Duration
from openvod.resources.odata import (
    NS,
    WHOLE,
    canonical_case,
    check_odata_type,
    checked,
    odata_field,
    refusal,
)
from openvod.resources.preset_values import (
    parse_color,
    parse_dimension,
    parse_frame_rate,
    parse_level,
    parse_offset,
    parse_position,
    parse_start,
)

INT32 = 2**31 - 1  # AMS's integer fields are .NET Int32
BUILTIN_PRESET_NAMES = (
    "AdaptiveStreaming",
    "H264MultipleBitrate1080p",
    "H264MultipleBitrate720p",
    "H264MultipleBitrateSD",
    "H264SingleBitrate1080p",
    "H264SingleBitrate720p",
    "H264SingleBitrateSD",
    "ContentAwareEncoding",
    "ContentAwareEncodingExperimental",
    "AACGoodQualityAudio",
    "CopyCodec",
    "CopyAllBitrateNonInterleaved",
    "DDGoodQualityAudio",
    "H265AdaptiveStreaming",
    "H265ContentAwareEncoding",
    "H265SingleBitrate720p",
    "H265SingleBitrate1080p",
    "H265SingleBitrate4K",
    # Not in the SDK's enum but accepted by AMS (and documented by AMS Explorer):
    # copy the source into a streamable MP4, optionally with GOP-aligned proxy layers.
    "SaasCopyCodec",
    "SaasProxyCopyCodec",
    "SaasSourceAligned360pOnly",
    "SaasSourceAligned540pOnly",
    "SaasSourceAligned360p",
    "SaasSourceAligned540p",
)

ComplexityName = Literal["Speed", "Balanced", "Quality"]
StretchModeName = Literal["None", "AutoSize", "AutoFit"]
SyncModeName = Literal["Auto", "Passthrough", "Cfr", "Vfr"]
RateControlName = Literal["ABR", "CBR", "CRF"]
H264ProfileName = Literal["Auto", "Baseline", "Main", "High", "High422", "High444"]
EntropyModeName = Literal["Cabac", "Cavlc"]
AacProfileName = Literal["AacLc", "HeAacV1", "HeAacV2"]
H265ProfileName = Literal["Auto", "Main", "Main10"]
InterleaveName = Literal["NonInterleavedOutput", "InterleavedOutput"]
RotationName = Literal["Auto", "None", "Rotate0", "Rotate90", "Rotate180", "Rotate270"]
DeinterlaceModeName = Literal["Off", "AutoPixelAdaptive"]
ParityName = Literal["Auto", "TopFieldFirst", "BottomFieldFirst"]

Complexity = Annotated[ComplexityName, canonical_case(ComplexityName)]
StretchMode = Annotated[StretchModeName, canonical_case(StretchModeName)]
SyncMode = Annotated[SyncModeName, canonical_case(SyncModeName)]  # checked; output is always CFR
RateControlMode = Annotated[RateControlName, canonical_case(RateControlName)]
EntropyMode = Annotated[EntropyModeName, canonical_case(EntropyModeName)]
AacProfile = Annotated[AacProfileName, canonical_case(AacProfileName)]
H265Profile = Annotated[H265ProfileName, canonical_case(H265ProfileName)]
InterleaveOutput = Annotated[InterleaveName, canonical_case(InterleaveName)]
Rotation = Annotated[RotationName, canonical_case(RotationName)]
DeinterlaceMode = Annotated[DeinterlaceModeName, canonical_case(DeinterlaceModeName)]
Parity = Annotated[ParityName, canonical_case(ParityName)]

Count = Annotated[int, Field(ge=0, le=INT32), WHOLE]
Positive = Annotated[int, Field(ge=1, le=INT32), WHOLE]
VideoBitrate = Annotated[int, Field(ge=1000, le=INT32), WHOLE]  # bits per second
AudioBitrate = Annotated[int, Field(ge=8000, le=INT32), WHOLE]
Size = Annotated[str, AfterValidator(checked(parse_dimension))]  # "1280" or "50%"
Offset = Annotated[str, AfterValidator(checked(parse_offset))]
FrameRate = Annotated[str, AfterValidator(checked(parse_frame_rate))]
Level = Annotated[str, AfterValidator(checked(parse_level))]
Color = Annotated[str, AfterValidator(checked(parse_color))]
Position = Annotated[str, AfterValidator(checked(parse_position))]  # "PT5S", "10%", "30"
Start = Annotated[str, AfterValidator(checked(parse_start))]  # a position or "{Best}"


def _seconds_between(low: float, high: float) -> Any:
    def check(text: str) -> None:
        seconds = parse_duration(text).total_seconds()
        if not low <= seconds <= high:
            raise ValueError(f"must be between {low:g} and {high:g} seconds, got {text!r}")

    return AfterValidator(checked(check))


def _positive_duration(text: str) -> None:
    if parse_duration(text).total_seconds() <= 0:
        raise ValueError(f"must be positive, e.g. 'PT2S', got {text!r}")


def _filename_pattern(text: str) -> None:
    if not text.strip():
        raise ValueError("is required, e.g. '{Basename}_{Label}{Extension}'")
    if "/" in text or "\\" in text:
        raise ValueError("must not contain '/' or '\\'")


def _h264_profile(name: str) -> str:
    if name in ("High422", "High444"):
        raise refusal(f"must not be {name}: openvod encodes 4:2:0 video")
    return name


def _builtin_name(name: str) -> str:
    for known in BUILTIN_PRESET_NAMES:
        if known.lower() == name.lower():
            return known
    supported = ", ".join(BUILTIN_PRESET_NAMES)
    raise PydanticCustomError(
        "builtin_preset_name",
        "{reason}",
        {
            "reason": f"is not a supported built-in preset: {name!r}; supported: {supported}",
            "sentence": f"{name} is not a supported built-in preset; supported: {supported}",
        },
    )


KeyFrameInterval = Annotated[Duration, _seconds_between(0.5, 20)]
BufferWindow = Annotated[Duration, _seconds_between(0.1, 100)]
FadeDuration = Annotated[Duration, AfterValidator(checked(_positive_duration))]
FilenamePattern = Annotated[str, AfterValidator(checked(_filename_pattern))]
H264Profile = Annotated[
    H264ProfileName, canonical_case(H264ProfileName), AfterValidator(_h264_profile)
]
BuiltInPresetName = Annotated[
    str,
    AfterValidator(_builtin_name),
    WithJsonSchema({"type": "string", "enum": list(BUILTIN_PRESET_NAMES)}),
]


class _VideoLayer(ArmModel):
    """The fields H.264 and H.265 layers share."""

    bitrate: VideoBitrate
    width: Size | None = None
    height: Size | None = None
    label: str | None = None
    max_bitrate: VideoBitrate | None = None
    b_frames: Count | None = None
    frame_rate: FrameRate | None = None
    slices: Count | None = None
    adaptive_b_frame: bool | None = None
    level: Level | None = None
    buffer_window: BufferWindow | None = None
    crf: Annotated[float, Field(ge=0, le=51)] | None = None
    reference_frames: Positive | None = None


class H264Layer(_VideoLayer):
    """``H264Layer``: one H.264 rendition."""

    profile: H264Profile | None = None
    entropy_mode: EntropyMode | None = None


class H264Video(ArmModel):
    """``#Microsoft.Media.H264Video``: GOP-aligned H.264 layers."""

    odata_type: Literal["#Microsoft.Media.H264Video"] = odata_field()
    label: str | None = None
    key_frame_interval: KeyFrameInterval | None = None
    stretch_mode: StretchMode | None = None
    sync_mode: SyncMode | None = None
    complexity: Complexity | None = None
    layers: Annotated[list[H264Layer], Field(min_length=1)]
    rate_control_mode: RateControlMode | None = None
    scene_change_detection: bool | None = None


class AacAudio(ArmModel):
    """``#Microsoft.Media.AacAudio``."""

    odata_type: Literal["#Microsoft.Media.AacAudio"] = odata_field()
    label: str | None = None
    channels: Annotated[int, Field(ge=1, le=8), WHOLE] | None = None
    sampling_rate: Annotated[int, Field(ge=8000, le=96000), WHOLE] | None = None
    bitrate: AudioBitrate | None = None
    profile: AacProfile | None = None


class H265Layer(_VideoLayer):
    """``H265Layer``: one HEVC rendition (no entropy mode: H.265 is always CABAC)."""

    profile: H265Profile | None = None


class H265Video(ArmModel):
    """``#Microsoft.Media.H265Video``: GOP-aligned HEVC layers, written as ``hvc1``."""

    odata_type: Literal["#Microsoft.Media.H265Video"] = odata_field()
    label: str | None = None
    key_frame_interval: KeyFrameInterval | None = None
    stretch_mode: StretchMode | None = None
    sync_mode: SyncMode | None = None
    complexity: Complexity | None = None
    layers: Annotated[list[H265Layer], Field(min_length=1)]
    scene_change_detection: bool | None = None


class DDAudio(ArmModel):
    """``#Microsoft.Media.DDAudio``: Dolby Digital (AC-3) audio."""

    odata_type: Literal["#Microsoft.Media.DDAudio"] = odata_field()
    label: str | None = None
    channels: Annotated[int, Field(ge=1, le=6), WHOLE] | None = None
    sampling_rate: Annotated[int, Field(ge=32000, le=48000), WHOLE] | None = None
    bitrate: Annotated[int, Field(ge=32000, le=640000), WHOLE] | None = None

    @model_validator(mode="after")
    def _rates(self) -> DDAudio:
        if self.sampling_rate is not None and self.sampling_rate not in (32000, 44100, 48000):
            raise refusal("samplingRate must be 32000, 44100 or 48000 for Dolby Digital")
        return self


class CopyVideo(ArmModel):
    """``#Microsoft.Media.CopyVideo``: the source video stream, not re-encoded."""

    odata_type: Literal["#Microsoft.Media.CopyVideo"] = odata_field()
    label: str | None = None


class CopyAudio(ArmModel):
    """``#Microsoft.Media.CopyAudio``: the source audio stream, not re-encoded."""

    odata_type: Literal["#Microsoft.Media.CopyAudio"] = odata_field()
    label: str | None = None


class PngLayer(ArmModel):
    """``PngLayer``: one thumbnail size."""

    width: Size | None = None
    height: Size | None = None
    label: str | None = None


class JpgLayer(PngLayer):
    """``JpgLayer``: one thumbnail size and its JPEG quality (0..100)."""

    quality: Annotated[int, Field(ge=0, le=100), WHOLE] | None = None


class _Image(ArmModel):
    """The fields PngImage and JpgImage share (``Image`` in the SDK)."""

    label: str | None = None
    key_frame_interval: KeyFrameInterval | None = None
    stretch_mode: StretchMode | None = None
    sync_mode: SyncMode | None = None
    start: Start | None = None  # the SDK requires it; AMS defaulted to {Best}
    step: Position | None = None
    range: Position | None = None


class PngImage(_Image):
    """``#Microsoft.Media.PngImage``: thumbnails at start, every step, over range."""

    odata_type: Literal["#Microsoft.Media.PngImage"] = odata_field()
    layers: list[PngLayer] | None = None


class JpgImage(_Image):
    """``#Microsoft.Media.JpgImage``; ``spriteColumn`` tiles the thumbnails into one sprite."""

    odata_type: Literal["#Microsoft.Media.JpgImage"] = odata_field()
    layers: list[JpgLayer] | None = None
    sprite_column: Count | None = None


CODEC_TYPES = tuple(NS + n for n in ("H264Video", "H265Video", "AacAudio", "DDAudio",
                                     "CopyVideo", "CopyAudio", "PngImage", "JpgImage"))
Codec = Annotated[
    H264Video | H265Video | AacAudio | DDAudio | CopyVideo | CopyAudio | PngImage | JpgImage,
    Field(discriminator="odata_type"),
    check_odata_type(CODEC_TYPES, "codec"),
]  # fmt: skip


class OutputFile(ArmModel):
    """``OutputFile``: the labels of the layers and audio that go into one file."""

    labels: Annotated[list[str], Field(min_length=1)]


class Mp4Format(ArmModel):
    """``#Microsoft.Media.Mp4Format``: progressive MP4 files (moov first)."""

    odata_type: Literal["#Microsoft.Media.Mp4Format"] = odata_field()
    filename_pattern: FilenamePattern
    output_files: list[OutputFile] | None = None


class TransportStreamFormat(ArmModel):
    """``#Microsoft.Media.TransportStreamFormat``: MPEG-2 TS files."""

    odata_type: Literal["#Microsoft.Media.TransportStreamFormat"] = odata_field()
    filename_pattern: FilenamePattern
    output_files: list[OutputFile] | None = None


class PngFormat(ArmModel):
    """``#Microsoft.Media.PngFormat``."""

    odata_type: Literal["#Microsoft.Media.PngFormat"] = odata_field()
    filename_pattern: FilenamePattern


class JpgFormat(ArmModel):
    """``#Microsoft.Media.JpgFormat``."""

    odata_type: Literal["#Microsoft.Media.JpgFormat"] = odata_field()
    filename_pattern: FilenamePattern


FORMAT_TYPES = tuple(NS + n for n in ("Mp4Format", "TransportStreamFormat", "PngFormat",
                                      "JpgFormat"))
Format = Annotated[
    Mp4Format | TransportStreamFormat | PngFormat | JpgFormat,
    Field(discriminator="odata_type"),
    check_odata_type(FORMAT_TYPES, "format"),
]


class Deinterlace(ArmModel):
    """``Deinterlace``."""

    parity: Parity | None = None
    mode: DeinterlaceMode | None = None


class Rectangle(ArmModel):
    """``Rectangle``: a crop window, each side in pixels or percent of the source."""

    left: Offset | None = None
    top: Offset | None = None
    width: Size | None = None
    height: Size | None = None


class Fade(ArmModel):
    """``Fade``: a video fade from/to a color."""

    duration: FadeDuration
    fade_color: Color | None = None  # the SDK requires it; AMS defaulted to black
    start: Position | None = None


Gain = Annotated[float, Field(ge=0, le=1)]


class AudioOverlay(ArmModel):
    """``#Microsoft.Media.AudioOverlay``: the sound of the input labeled ``inputLabel``, mixed."""

    odata_type: Literal["#Microsoft.Media.AudioOverlay"] = odata_field()
    input_label: Annotated[str, Field(min_length=1)]
    start: Duration | None = None
    end: Duration | None = None
    fade_in_duration: Duration | None = None
    fade_out_duration: Duration | None = None
    audio_gain_level: Gain | None = None


class VideoOverlay(AudioOverlay):
    """``#Microsoft.Media.VideoOverlay``: an image or video input drawn over the picture."""

    odata_type: Literal["#Microsoft.Media.VideoOverlay"] = odata_field()  # type: ignore[assignment]
    position: Rectangle | None = None
    opacity: Gain | None = None
    crop_rectangle: Rectangle | None = None


Overlay = Annotated[
    VideoOverlay | AudioOverlay,
    Field(discriminator="odata_type"),
    check_odata_type((NS + "VideoOverlay", NS + "AudioOverlay"), "overlay"),
]


class Filters(ArmModel):
    """``Filters`` of a StandardEncoderPreset."""

    deinterlace: Deinterlace | None = None
    rotation: Rotation | None = None
    crop: Rectangle | None = None
    fade_in: Fade | None = None
    fade_out: Fade | None = None
    overlays: list[Overlay] | None = None


class StandardEncoderPreset(ArmModel):
    """``#Microsoft.Media.StandardEncoderPreset``: codecs, formats and filters."""

    odata_type: Literal["#Microsoft.Media.StandardEncoderPreset"] = odata_field()
    codecs: Annotated[list[Codec], Field(min_length=1)]
    formats: Annotated[list[Format], Field(min_length=1)]
    filters: Filters | None = None
    experimental_options: dict[str, str] | None = None  # accepted, as AMS did, and not used

    @model_validator(mode="after")
    def _consistent(self) -> StandardEncoderPreset:
        _check_standard(self)
        return self


class PresetConfigurations(ArmModel):
    """``PresetConfigurations`` of a built-in preset (AdaptiveStreaming's ladder bounds)."""

    complexity: Complexity | None = None
    interleave_output: InterleaveOutput | None = None
    key_frame_interval_in_seconds: Annotated[float, Field(ge=0.5, le=20)] | None = None
    max_bitrate_bps: Positive | None = None
    max_height: Annotated[int, Field(ge=2, le=INT32), WHOLE] | None = None
    max_layers: Positive | None = None
    min_bitrate_bps: Positive | None = None
    min_height: Annotated[int, Field(ge=2, le=INT32), WHOLE] | None = None


class BuiltInStandardEncoderPreset(ArmModel):
    """``#Microsoft.Media.BuiltInStandardEncoderPreset``: one of the AMS built-in recipes."""

    odata_type: Literal["#Microsoft.Media.BuiltInStandardEncoderPreset"] = odata_field()
    preset_name: BuiltInPresetName
    configurations: PresetConfigurations | None = None


_NOT_SUPPORTED = "{} is not supported; openvod runs encoder and audio analyzer presets"
PRESET_TYPES = (NS + "BuiltInStandardEncoderPreset", NS + "StandardEncoderPreset",
                NS + "AudioAnalyzerPreset", NS + "VideoAnalyzerPreset")
Preset = Annotated[
    BuiltInStandardEncoderPreset | StandardEncoderPreset | AudioAnalyzerPreset
    | VideoAnalyzerPreset,
    Field(discriminator="odata_type"),
    check_odata_type(PRESET_TYPES, "preset", {
        NS + "FaceDetectorPreset": _NOT_SUPPORTED.format(NS + "FaceDetectorPreset"),
    }),
]  # fmt: skip
PRESET = TypeAdapter(Preset)


def codec_labels(preset: StandardEncoderPreset) -> dict[str, str]:
    """Map every layer/codec label to 'video', 'audio' or 'image'; a label used twice fails."""
    labels: dict[str, str] = {}
    for codec in preset.codecs:
        if isinstance(codec, H264Video | H265Video):
            named = [(layer.label, "video") for layer in codec.layers]
        elif isinstance(codec, PngImage | JpgImage):
            layers = codec.layers or []
            named = [(codec.label, "image")] + [(layer.label, "image") for layer in layers]
        else:
            named = [(codec.label, "video" if isinstance(codec, CopyVideo) else "audio")]
        for label, kind in named:
            if label is None:
                continue
            if label in labels:
                raise refusal(f"is ambiguous: the label {label!r} is used twice")
            labels[label] = kind
    return labels


def _image_kind(item: object) -> str | None:
    if isinstance(item, PngImage | PngFormat):
        return "png"
    return "jpg" if isinstance(item, JpgImage | JpgFormat) else None


def _check_standard(preset: StandardEncoderPreset) -> None:
    labels = codec_labels(preset)
    has_av = any(_image_kind(c) is None for c in preset.codecs)
    has_av_format = any(_image_kind(f) is None for f in preset.formats)
    if has_av and not has_av_format:
        raise refusal(
            "formats need an Mp4Format or TransportStreamFormat for the audio/video codecs"
        )
    if has_av_format and not has_av:
        raise refusal("codecs need a video or audio codec for the Mp4Format/TransportStreamFormat")
    codec_kinds = {_image_kind(c) for c in preset.codecs} - {None}
    format_kinds = {_image_kind(f) for f in preset.formats} - {None}
    for kind in sorted(str(k) for k in codec_kinds - format_kinds):
        name = kind.capitalize()
        raise refusal(f"formats need a {name}Format for the {name}Image codec")
    for kind in sorted(str(k) for k in format_kinds - codec_kinds):
        name = kind.capitalize()
        raise refusal(f"codecs need a {name}Image codec for the {name}Format")
    for i, fmt in enumerate(preset.formats):
        if isinstance(fmt, Mp4Format | TransportStreamFormat):
            _check_output_files(fmt, labels, i)


def _check_output_files(
    fmt: Mp4Format | TransportStreamFormat, labels: dict[str, str], index: int
) -> None:
    for j, entry in enumerate(fmt.output_files or []):
        path = f"formats[{index}].outputFiles[{j}].labels"
        for label in entry.labels:
            if labels.get(label) not in ("video", "audio"):
                raise refusal(
                    f"{path} names {label!r}, which is no video layer or audio codec label"
                )
        if sum(labels[label] == "video" for label in entry.labels) > 1:
            raise refusal(f"{path} may hold at most one video layer per file")
