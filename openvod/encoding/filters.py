"""The ``filters`` of a StandardEncoderPreset as the encoder reads them.

Deinterlace, rotation, crop, fades, and overlays (an image, video or sound
from another job input, named by its label, drawn or mixed over the main
picture and sound; :mod:`.overlays` builds their filter chains).
"""

from __future__ import annotations

from dataclasses import dataclass

from openvod.clock import parse_duration
from openvod.resources import presets as wire
from openvod.resources.preset_values import (
    Dimension,
    Position,
    parse_color,
    parse_dimension,
    parse_offset,
    parse_position,
)


@dataclass(frozen=True)
class Rectangle:
    """A crop rectangle; each side in pixels or percent of the source."""

    left: Dimension | None = None
    top: Dimension | None = None
    width: Dimension | None = None
    height: Dimension | None = None


@dataclass(frozen=True)
class Fade:
    """A video fade from/to ``color``; ``start`` None on a fade-out means 'end at the end'."""

    duration_seconds: float
    color: str = "black"
    start: Position | None = None


@dataclass(frozen=True)
class Overlay:
    """A VideoOverlay (``video`` True) or AudioOverlay; times in seconds of the output."""

    input_label: str
    video: bool
    start_seconds: float = 0.0
    end_seconds: float | None = None  # None: to the end of the main input
    fade_in_seconds: float = 0.0
    fade_out_seconds: float = 0.0
    audio_gain: float = 1.0
    position: Rectangle | None = None
    opacity: float = 1.0
    crop: Rectangle | None = None


@dataclass(frozen=True)
class Filters:
    """``filters`` of a StandardEncoderPreset."""

    deinterlace_mode: str = "AutoPixelAdaptive"  # or "Off"
    deinterlace_parity: str = "Auto"  # "TopFieldFirst" | "BottomFieldFirst"
    rotation: str = "Auto"
    crop: Rectangle | None = None
    fade_in: Fade | None = None
    fade_out: Fade | None = None
    overlays: tuple[Overlay, ...] = ()


def read_filters(model: wire.Filters) -> Filters:
    """The encoder's view of a validated ``filters`` model (overlays were refused there)."""
    deinterlace = model.deinterlace or wire.Deinterlace()
    crop = model.crop
    return Filters(
        overlays=tuple(_overlay(item) for item in model.overlays or []),
        deinterlace_mode=deinterlace.mode or "AutoPixelAdaptive",
        deinterlace_parity=deinterlace.parity or "Auto",
        rotation=model.rotation or "Auto",
        crop=_rectangle(crop),
        fade_in=_fade(model.fade_in),
        fade_out=_fade(model.fade_out),
    )


def _fade(model: wire.Fade | None) -> Fade | None:
    if model is None:
        return None
    return Fade(
        duration_seconds=parse_duration(model.duration).total_seconds(),
        color="black" if model.fade_color is None else parse_color(model.fade_color),
        start=None if model.start is None else parse_position(model.start),
    )


def _rectangle(model: wire.Rectangle | None) -> Rectangle | None:
    if model is None:
        return None
    return Rectangle(
        left=None if model.left is None else parse_offset(model.left),
        top=None if model.top is None else parse_offset(model.top),
        width=None if model.width is None else parse_dimension(model.width),
        height=None if model.height is None else parse_dimension(model.height),
    )


def _seconds(text: str | None, default: float) -> float:
    return default if text is None else parse_duration(text).total_seconds()


def _overlay(model: wire.VideoOverlay | wire.AudioOverlay) -> Overlay:
    video = isinstance(model, wire.VideoOverlay)
    return Overlay(
        input_label=model.input_label,
        video=video,
        start_seconds=_seconds(model.start, 0.0),
        end_seconds=None if model.end is None else _seconds(model.end, 0.0),
        fade_in_seconds=_seconds(model.fade_in_duration, 0.0),
        fade_out_seconds=_seconds(model.fade_out_duration, 0.0),
        audio_gain=1.0 if model.audio_gain_level is None else model.audio_gain_level,
        position=_rectangle(model.position) if isinstance(model, wire.VideoOverlay) else None,
        opacity=1.0
        if not isinstance(model, wire.VideoOverlay) or model.opacity is None
        else model.opacity,
        crop=_rectangle(model.crop_rectangle) if isinstance(model, wire.VideoOverlay) else None,
    )
