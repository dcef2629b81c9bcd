"""The ``filters`` of a StandardEncoderPreset: deinterlace, rotation, crop, fades.

Overlays are parsed far enough to be rejected with a clear message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openvod.encoding.wire import (
    Dimension,
    Position,
    as_mapping,
    fail,
    opt_choice,
    opt_dimension,
    opt_duration,
    opt_position,
    opt_str,
    parse_color,
)

ROTATIONS = ("Auto", "None", "Rotate0", "Rotate90", "Rotate180", "Rotate270")


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


def parse_filters(obj: Mapping[str, Any]) -> Filters:
    """Parse a StandardEncoderPreset's ``filters``; overlays are rejected."""
    path = "filters"
    if obj.get("overlays"):
        raise fail("filters.overlays", "are not supported by openvod (no image or audio overlays)")
    deinterlace = as_mapping(obj.get("deinterlace") or {}, "filters.deinterlace")
    crop_json = obj.get("crop")
    crop = None
    if crop_json is not None:
        crop_obj = as_mapping(crop_json, "filters.crop")
        crop = Rectangle(
            *(
                opt_dimension(crop_obj, key, "filters.crop", allow_zero=key in ("left", "top"))
                for key in ("left", "top", "width", "height")
            )
        )
    return Filters(
        deinterlace_mode=opt_choice(
            deinterlace, "mode", "filters.deinterlace", ("Off", "AutoPixelAdaptive")
        )
        or "AutoPixelAdaptive",
        deinterlace_parity=opt_choice(
            deinterlace,
            "parity",
            "filters.deinterlace",
            ("Auto", "TopFieldFirst", "BottomFieldFirst"),
        )
        or "Auto",
        rotation=opt_choice(obj, "rotation", path, ROTATIONS) or "Auto",
        crop=crop,
        fade_in=_parse_fade(obj.get("fadeIn"), "filters.fadeIn"),
        fade_out=_parse_fade(obj.get("fadeOut"), "filters.fadeOut"),
    )


def _parse_fade(value: Any, path: str) -> Fade | None:
    if value is None:
        return None
    obj = as_mapping(value, path)
    duration = opt_duration(obj, "duration", path)
    if duration is None or duration <= 0:
        raise fail(f"{path}.duration", "is required and must be positive, e.g. 'PT2S'")
    color = opt_str(obj, "fadeColor", path)
    return Fade(
        duration_seconds=duration,
        color="black" if color is None else parse_color(color, f"{path}.fadeColor"),
        start=opt_position(obj, "start", path),
    )
