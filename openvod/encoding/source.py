"""The source an encode works from: probed inputs, clipped, stitched, rotated and cropped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from openvod.encoding.builtin import even
from openvod.encoding.filters import Filters
from openvod.encoding.probe import MediaInfo, StreamInfo
from openvod.errors import EncodeError

DEFAULT_FRAME_RATE = Fraction(25)  # for a video stream that states no usable rate


@dataclass(frozen=True)
class InputFile:
    """One input file of a job, optionally clipped (AbsoluteClipTime start/end)."""

    path: Path
    start_seconds: float | None = None
    end_seconds: float | None = None
    label: str | None = None  # the job input's label (overlays name their input by it)


@dataclass(frozen=True)
class Segment:
    """One input's share of a (stitched) source."""

    name: str
    duration_seconds: float
    has_video: bool
    has_audio: bool
    video_stream_index: int | None = None  # the picture to use (cover art is skipped)
    audio_stream_index: int | None = None

    @property
    def video_pad(self) -> str:
        """The stream specifier of this input's picture (``[N:<this>]`` in a filtergraph)."""
        return "v:0" if self.video_stream_index is None else str(self.video_stream_index)

    @property
    def audio_pad(self) -> str:
        """The stream specifier of this input's sound."""
        return "a:0" if self.audio_stream_index is None else str(self.audio_stream_index)


@dataclass(frozen=True)
class SourceSpec:
    """The (possibly stitched, clipped, rotated, cropped) picture and sound to encode."""

    width: int  # display size after rotation and crop, square pixels
    height: int
    frame_rate: Fraction
    duration_seconds: float
    has_video: bool
    has_audio: bool
    video_stream_index: int | None = None
    audio_stream_index: int | None = None
    video_bitrate_bps: int | None = None
    audio_bitrate_bps: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    audio_language: str | None = None
    audio_channels: int | None = None
    sample_aspect_ratio: Fraction = Fraction(1)
    interlaced: bool = False
    crop: tuple[int, int, int, int] | None = None  # width, height, x, y
    segments: tuple[Segment, ...] = ()

    @property
    def input_count(self) -> int:
        """How many input files are stitched (1 for a plain job)."""
        return max(1, len(self.segments))


def describe_source(
    inputs: Sequence[InputFile], infos: Sequence[MediaInfo], filters: Filters
) -> SourceSpec:
    """Combine the probed inputs (clipped, stitched, rotated, cropped) into one SourceSpec."""
    first = infos[0]
    video = next((info.video for info in infos if info.video), None)
    audio = next((info.audio for info in infos if info.audio), None)
    segments = tuple(
        Segment(
            info.name,
            _clip_duration(item, info),
            info.has_video,
            info.has_audio,
            info.video.index if info.video else None,
            info.audio.index if info.audio else None,
        )
        for item, info in zip(inputs, infos, strict=True)
    )
    duration = sum(segment.duration_seconds for segment in segments)
    width, height, crop = _geometry(video, filters) if video else (0, 0, None)
    return SourceSpec(
        width=width,
        height=height,
        frame_rate=(video.frame_rate if video and video.frame_rate else DEFAULT_FRAME_RATE),
        duration_seconds=duration,
        has_video=video is not None,
        has_audio=audio is not None,
        video_stream_index=first.video.index if first.video else None,
        audio_stream_index=first.audio.index if first.audio else None,
        video_bitrate_bps=(video.bitrate_bps if video else None) or _guess_video_bitrate(first),
        audio_bitrate_bps=audio.bitrate_bps if audio else None,
        video_codec=video.codec if video else None,
        audio_codec=audio.codec if audio else None,
        audio_language=audio.language if audio else None,
        audio_channels=audio.channels if audio else None,
        sample_aspect_ratio=video.sample_aspect_ratio if video else Fraction(1),
        interlaced=bool(video and video.interlaced),
        crop=crop,
        segments=segments,
    )


def _geometry(
    video: StreamInfo, filters: Filters
) -> tuple[int, int, tuple[int, int, int, int] | None]:
    """Display width and height after rotation and crop, and the crop box."""
    width, height = _oriented_size(
        video.width or 0,
        video.height or 0,
        video.sample_aspect_ratio,
        video.rotation_degrees,
        filters.rotation,
    )
    if filters.crop is None:
        return width, height, None
    crop = _crop_box(filters, width, height)
    return crop[0], crop[1], crop


def _clip_duration(item: InputFile, info: MediaInfo) -> float:
    start = max(0.0, item.start_seconds or 0.0)
    end = (
        info.duration_seconds
        if item.end_seconds is None
        else min(item.end_seconds, info.duration_seconds)
    )
    if end - start <= 0:
        raise EncodeError(
            f"The clip of '{info.name}' is empty: it starts at {start:g} s and ends at {end:g} s "
            f"of a {info.duration_seconds:g} s input"
        )
    return end - start


def _guess_video_bitrate(info: MediaInfo) -> int | None:
    """Containers like MKV give only the total bitrate; take the audio off it."""
    if info.bitrate_bps is None:
        return None
    audio = info.audio.bitrate_bps if info.audio and info.audio.bitrate_bps else 0
    return max(1, info.bitrate_bps - audio)


def _oriented_size(
    width: int, height: int, sar: Fraction, rotation: int, mode: str
) -> tuple[int, int]:
    display_width = even(float(width * sar))
    # Auto: ffmpeg applies the display matrix; otherwise the preset says how to turn.
    quarter = abs(rotation) % 180 == 90 if mode == "Auto" else mode in ("Rotate90", "Rotate270")
    return (height, display_width) if quarter else (display_width, height)


def _crop_box(filters: Filters, width: int, height: int) -> tuple[int, int, int, int]:
    rect = filters.crop
    assert rect is not None
    left = int(rect.left.resolve(width)) if rect.left else 0
    top = int(rect.top.resolve(height)) if rect.top else 0
    crop_w = int(rect.width.resolve(width)) if rect.width else width - left
    crop_h = int(rect.height.resolve(height)) if rect.height else height - top
    crop_w, crop_h = min(crop_w, width - left), min(crop_h, height - top)
    if crop_w < 2 or crop_h < 2:
        raise EncodeError(f"The crop rectangle leaves no picture of the {width}x{height} source")
    return (crop_w // 2 * 2, crop_h // 2 * 2, left, top)
