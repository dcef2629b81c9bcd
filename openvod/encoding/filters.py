"""The ``filters`` of a StandardEncoderPreset as the encoder reads them.

Deinterlace, rotation, crop and fades; overlays are refused by the model
(:class:`openvod.resources.presets.Filters`) before anything gets here.
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
class Filters:
    """``filters`` of a StandardEncoderPreset (overlays are rejected at parse time)."""

    deinterlace_mode: str = "AutoPixelAdaptive"  # or "Off"
    deinterlace_parity: str = "Auto"  # "TopFieldFirst" | "BottomFieldFirst"
    rotation: str = "Auto"
    crop: Rectangle | None = None
    fade_in: Fade | None = None
    fade_out: Fade | None = None


def read_filters(model: wire.Filters) -> Filters:
    """The encoder's view of a validated ``filters`` model (overlays were refused there)."""
    deinterlace = model.deinterlace or wire.Deinterlace()
    crop = model.crop
    return Filters(
        deinterlace_mode=deinterlace.mode or "AutoPixelAdaptive",
        deinterlace_parity=deinterlace.parity or "Auto",
        rotation=model.rotation or "Auto",
        crop=None
        if crop is None
        else Rectangle(
            left=None if crop.left is None else parse_offset(crop.left),
            top=None if crop.top is None else parse_offset(crop.top),
            width=None if crop.width is None else parse_dimension(crop.width),
            height=None if crop.height is None else parse_dimension(crop.height),
        ),
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
