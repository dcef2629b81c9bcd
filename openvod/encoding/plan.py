"""Resolve a preset against the probed source into an :class:`EncodePlan`.

The plan is concrete: every output file with its name, every video rendition
with its frame size, frame rate and bitrate, every thumbnail job with its
frame numbers. :mod:`.command` turns it into ffmpeg arguments; nothing here
runs a process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from openvod.encoding.builtin import even
from openvod.encoding.naming import expand_pattern, format_index, shorten_basename
from openvod.encoding.presets import (
    AacAudio,
    Container,
    CopyAudio,
    CopyVideo,
    DDAudio,
    Filters,
    H264Layer,
    H264Video,
    H265Video,
    ImageCodec,
    ImageFormat,
    ImageKind,
    ImageLayer,
    MultiBitrateFormat,
    StandardPreset,
    StretchMode,
)
from openvod.encoding.source import SourceSpec
from openvod.errors import EncodeError
from openvod.resources.preset_values import Dimension

EXTENSIONS = {"mp4": ".mp4", "ts": ".ts", "png": ".png", "jpg": ".jpg"}
ASPECT_TOLERANCE = 0.02  # a box this close to the source's shape is used as is (848x480)
BEST_WINDOW_SECONDS = 10.0  # {Best} picks from the first seconds, as AMS did


@dataclass(frozen=True)
class VideoEncode:
    """An H.264 rendition: frame size (content size differs only when AutoFit pads)."""

    width: int
    height: int
    content_width: int
    content_height: int
    frame_rate: Fraction
    layer: H264Layer
    codec: H264Video


@dataclass(frozen=True)
class AudioEncode:
    """An AAC rendition."""

    codec: AacAudio


@dataclass(frozen=True)
class StreamCopy:
    """A source stream copied without re-encoding."""

    kind: Literal["video", "audio"]
    stream_index: int
    bitrate_bps: int | None


VideoOut = VideoEncode | StreamCopy
AudioOut = AudioEncode | StreamCopy


@dataclass(frozen=True)
class MediaFile:
    """One MP4 or TS output file: at most one video stream, then its audio streams."""

    name: str
    container: Container
    video: VideoOut | None
    audios: tuple[AudioOut, ...]


@dataclass(frozen=True)
class ImageJob:
    """Thumbnails of one image layer; frame numbers count frames of the CFR source."""

    key: str  # names the temporary files
    kind: ImageKind
    width: int
    height: int
    content_width: int
    content_height: int
    quality: int | None
    pattern: str
    label: str | None
    best: bool
    start_frame: int
    end_frame: int
    step_frames: int
    sprite_columns: int | None

    @property
    def count(self) -> int:
        """How many thumbnails the frame numbers select (1 for {Best})."""
        if self.best:
            return 1
        return max(1, math.ceil((self.end_frame - self.start_frame) / self.step_frames))

    @property
    def sprite_rows(self) -> int:
        """Rows of the sprite image (0 when this job makes no sprite)."""
        return math.ceil(self.count / self.sprite_columns) if self.sprite_columns else 0

    def file_name(self, basename: str, index: int, extension: str | None = None) -> str:
        """The name of thumbnail number ``index`` (from 1)."""
        values = {
            "Basename": basename,
            "Label": self.label or "",
            "Resolution": f"{self.width}x{self.height}",
            "Extension": extension or EXTENSIONS[self.kind],
            "Index": format_index(index),
        }
        return expand_pattern(self.pattern, values)


@dataclass(frozen=True)
class EncodePlan:
    """Everything one ffmpeg run produces."""

    source: SourceSpec
    basename: str
    files: tuple[MediaFile, ...]
    images: tuple[ImageJob, ...]
    filters: Filters

    @property
    def ism_name(self) -> str | None:
        """``{Basename}.ism`` when there are MP4 outputs to stream."""
        has_mp4 = any(f.container == "mp4" for f in self.files)
        return f"{self.basename}.ism" if has_mp4 else None

    @property
    def video_encodes(self) -> list[VideoEncode]:
        """The H.264 renditions, in output order."""
        return [f.video for f in self.files if isinstance(f.video, VideoEncode)]


def fit_size(
    width: Dimension | None,
    height: Dimension | None,
    source_w: int,
    source_h: int,
    mode: StretchMode,
) -> tuple[int, int, int, int]:
    """Frame and content size (w, h, content_w, content_h) of a layer, all even."""
    aspect = source_w / source_h
    if width is None and height is None:
        w, h = even(source_w), even(source_h)
        return w, h, w, h
    if width is None or height is None:
        if height is not None:
            h = even(height.resolve(source_h))
            w = even(h * aspect)
        else:
            w = even(width.resolve(source_w)) if width else even(source_w)
            h = even(w / aspect)
        return w, h, w, h
    box_w, box_h = even(width.resolve(source_w)), even(height.resolve(source_h))
    if mode == "None" or abs(box_w / box_h / aspect - 1) <= ASPECT_TOLERANCE:
        return box_w, box_h, box_w, box_h
    content_w, content_h = (even(box_h * aspect), box_h)
    if content_w > box_w:
        content_w, content_h = box_w, even(box_w / aspect)
    if mode == "AutoFit":
        return box_w, box_h, content_w, content_h
    return content_w, content_h, content_w, content_h


def build_plan(
    preset: StandardPreset, source: SourceSpec, basename: str, input_name: str
) -> EncodePlan:
    """Resolve ``preset`` for ``source``; raise EncodeError when they cannot go together."""
    short = shorten_basename(basename)
    _check_needs(preset, source, input_name)
    files: list[MediaFile] = []
    images: list[ImageJob] = []
    for fmt in preset.formats:
        if isinstance(fmt, MultiBitrateFormat):
            files.extend(_media_files(preset, fmt, source, short))
        else:
            images.extend(_image_jobs(preset, fmt, source, len(images)))
    if not files and not images:
        raise EncodeError(f"The preset produces nothing for the input file '{input_name}'")
    plan = EncodePlan(source, short, tuple(files), tuple(images), preset.filters)
    _check_unique_names(plan)
    return plan


def _check_needs(preset: StandardPreset, source: SourceSpec, input_name: str) -> None:
    wants_video = any(isinstance(c, H264Video | ImageCodec) for c in preset.codecs)
    wants_audio = any(isinstance(c, AacAudio | CopyAudio) for c in preset.codecs)
    silent = [s.name for s in source.segments if not s.has_video]
    if wants_video and (not source.has_video or silent):
        raise EncodeError(
            f"The input file '{silent[0] if silent else input_name}' has no video stream, "
            "but the preset encodes video"
        )
    only_audio = all(isinstance(c, AacAudio | CopyAudio) for c in preset.codecs)
    if wants_audio and only_audio and not source.has_audio:
        raise EncodeError(
            f"The input file '{input_name}' has no audio stream, but the preset encodes only audio"
        )
    if source.input_count > 1 and any(isinstance(c, CopyVideo | CopyAudio) for c in preset.codecs):
        raise EncodeError("Copying streams works on one input file, not a sequence of inputs")


def _units(
    preset: StandardPreset, source: SourceSpec
) -> tuple[list[tuple[str | None, VideoOut]], list[tuple[str | None, AudioOut]]]:
    videos: list[tuple[str | None, VideoOut]] = []
    audios: list[tuple[str | None, AudioOut]] = []
    for codec in preset.codecs:
        if isinstance(codec, H264Video) and source.has_video:
            videos.extend(
                (layer.label, _video_encode(codec, layer, source)) for layer in codec.layers
            )
        elif isinstance(codec, CopyVideo) and source.video_stream_index is not None:
            copy = StreamCopy("video", source.video_stream_index, source.video_bitrate_bps)
            videos.append((codec.label, copy))
        elif isinstance(codec, AacAudio) and source.has_audio:
            audios.append((codec.label, AudioEncode(codec)))
        elif isinstance(codec, CopyAudio) and source.audio_stream_index is not None:
            copy = StreamCopy("audio", source.audio_stream_index, source.audio_bitrate_bps)
            audios.append((codec.label, copy))
    return videos, audios


def _video_encode(codec: H264Video, layer: H264Layer, source: SourceSpec) -> VideoEncode:
    w, h, cw, ch = fit_size(
        layer.width, layer.height, source.width, source.height, codec.stretch_mode
    )
    return VideoEncode(w, h, cw, ch, layer.frame_rate or source.frame_rate, layer, codec)


def _media_files(
    preset: StandardPreset, fmt: MultiBitrateFormat, source: SourceSpec, basename: str
) -> list[MediaFile]:
    videos, audios = _units(preset, source)
    groups: list[tuple[VideoOut | None, tuple[AudioOut, ...], tuple[str | None, ...]]] = []
    if fmt.output_files:
        by_label_v = {label: unit for label, unit in videos if label}
        by_label_a = {label: unit for label, unit in audios if label}
        for labels in fmt.output_files:
            video = next((by_label_v[x] for x in labels if x in by_label_v), None)
            group_audio = tuple(by_label_a[x] for x in labels if x in by_label_a)
            names = tuple(x for x in labels if x in by_label_v) + tuple(
                x for x in labels if x in by_label_a
            )
            if video is not None or group_audio:
                groups.append((video, group_audio, names))
    elif videos:
        all_audio = tuple(unit for _, unit in audios)
        first_audio_label = tuple(label for label, _ in audios[:1])
        groups = [(unit, all_audio, (label, *first_audio_label)) for label, unit in videos]
    else:
        groups = [(None, (unit,), (label,)) for label, unit in audios]
    return [
        MediaFile(
            _media_name(fmt, video, auds, labels, source, basename), fmt.container, video, auds
        )
        for video, auds, labels in groups
    ]


def _media_name(
    fmt: MultiBitrateFormat,
    video: VideoOut | None,
    audios: tuple[AudioOut, ...],
    labels: tuple[str | None, ...],
    source: SourceSpec,
    basename: str,
) -> str:
    values = {"Basename": basename, "Extension": EXTENSIONS[fmt.container]}
    values["Label"] = next((label for label in labels if label), "")
    if audios:
        values["AudioStream"] = "Audio1"
    if isinstance(video, VideoEncode):
        values["Bitrate"] = str(video.layer.bitrate_bps // 1000)
        values["Resolution"] = f"{video.width}x{video.height}"
        values["Codec"] = "H265" if isinstance(video.codec, H265Video) else "H264"
    elif isinstance(video, StreamCopy):
        values["Bitrate"] = str((video.bitrate_bps or 0) // 1000 or "")
        values["Resolution"] = f"{source.width}x{source.height}"
        values["Codec"] = (source.video_codec or "").upper()
    elif audios:
        audio = audios[0]
        if isinstance(audio, AudioEncode):
            values["Bitrate"] = str(audio.codec.bitrate_bps // 1000)
            values["Codec"] = "DD" if isinstance(audio.codec, DDAudio) else "AACLC"
        else:
            values["Bitrate"] = str((audio.bitrate_bps or 0) // 1000 or "")
            values["Codec"] = (source.audio_codec or "").upper()
    return expand_pattern(fmt.filename_pattern, values)


def _image_jobs(
    preset: StandardPreset, fmt: ImageFormat, source: SourceSpec, offset: int
) -> list[ImageJob]:
    jobs: list[ImageJob] = []
    for codec in preset.codecs:
        if not isinstance(codec, ImageCodec) or codec.kind != fmt.kind:
            continue
        for layer in codec.layers:
            jobs.append(_image_job(codec, layer, fmt, source, f"img{offset + len(jobs)}"))
    return jobs


def _image_job(
    codec: ImageCodec, layer: ImageLayer, fmt: ImageFormat, source: SourceSpec, key: str
) -> ImageJob:
    w, h, cw, ch = fit_size(
        layer.width, layer.height, source.width, source.height, codec.stretch_mode
    )
    fps = float(source.frame_rate)
    total = max(1, int(round(source.duration_seconds * fps)))
    best = codec.start.kind == "best"
    start = min(total - 1, int(round(codec.start.to_frames(fps, source.duration_seconds))))
    if codec.range.kind == "frames" and codec.range.value <= 1:
        span = 1  # AMS: a range of 1 means one thumbnail, at start
    else:
        span = max(1, int(round(codec.range.to_frames(fps, source.duration_seconds))))
    step = max(1, int(round(codec.step.to_frames(fps, source.duration_seconds))))
    return ImageJob(
        key=key,
        kind=codec.kind,
        width=w,
        height=h,
        content_width=cw,
        content_height=ch,
        quality=layer.quality,
        pattern=fmt.filename_pattern,
        label=layer.label or codec.label,
        best=best,
        start_frame=0 if best else start,
        end_frame=min(total, start + span),
        step_frames=step,
        sprite_columns=codec.sprite_column,
    )


def _check_unique_names(plan: EncodePlan) -> None:
    names = [f.name for f in plan.files]
    for job in plan.images:
        count = 1 if job.sprite_columns else job.count
        job_names = [job.file_name(plan.basename, i) for i in range(1, count + 1)]
        if len(set(job_names)) < len(job_names):
            raise EncodeError(
                f"The thumbnail filenamePattern {job.pattern!r} gives every thumbnail the same "
                "name; add {Index}"
            )
        names.extend(job_names)
    if plan.ism_name:
        names.append(plan.ism_name)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise EncodeError(
                f"Two outputs would both be named {name!r}; add {{Label}}, {{Bitrate}} or "
                "{Resolution} to the filenamePattern"
            )
        seen.add(name)
