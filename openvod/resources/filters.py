"""Dynamic manifest filters (``AssetFilter``, ``AccountFilter``) as azure-mgmt-media sends them.

A filter trims a manifest to a time range (``presentationTimeRange``, in
``timescale`` units), keeps the tracks its selections match (``tracks``) and
may name the bitrate HLS players should start with (``firstQuality``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from openvod.resources.base import ArmModel, ArmResource

MAX_TICKS = 2**63 - 1
DEFAULT_TIMESCALE = 10_000_000
TRACK_TYPES = ("video", "audio", "text")
BITRATE_RANGE = re.compile(r"(\d{1,12})(?:-(\d{1,12}))?")
Ticks = Annotated[int, Field(ge=0, le=MAX_TICKS)]
PropertyName = Literal["Unknown", "Type", "Name", "Language", "FourCC", "Bitrate"]
OperationName = Literal["Equal", "NotEqual"]


class PresentationTimeRange(ArmModel):
    """``PresentationTimeRange``: the span a filtered manifest covers, in ``timescale`` units."""

    start_timestamp: Ticks | None = None
    end_timestamp: Ticks | None = None
    presentation_window_duration: Ticks | None = None
    live_backoff_duration: Ticks | None = None
    timescale: Annotated[int, Field(ge=1, le=MAX_TICKS)] | None = None
    force_end_timestamp: bool | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PresentationTimeRange:
        start, end = self.start_timestamp, self.end_timestamp
        if start is not None and end is not None and end <= start:
            raise ValueError("endTimestamp must be after startTimestamp")
        return self


class FilterTrackPropertyCondition(ArmModel):
    """One condition on a track: ``property`` ``operation`` ``value``."""

    property: PropertyName
    operation: OperationName
    value: Annotated[str, Field(min_length=1, max_length=256)]

    @model_validator(mode="after")
    def _value_fits(self) -> FilterTrackPropertyCondition:
        if self.property == "Unknown":
            raise ValueError("property 'Unknown' cannot select tracks")
        if self.property == "Type" and self.value.lower() not in TRACK_TYPES:
            raise ValueError(f"a Type value is one of {', '.join(TRACK_TYPES)}")
        if self.property == "Bitrate":
            match = BITRATE_RANGE.fullmatch(self.value)
            if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
                raise ValueError("a Bitrate value is a bitrate or a range 'low-high' in bps")
        return self


class FilterTrackSelection(ArmModel):
    """``FilterTrackSelection``: a track is selected when it meets every condition."""

    track_selections: Annotated[list[FilterTrackPropertyCondition],
                                Field(min_length=1, max_length=16)]


class FirstQuality(ArmModel):
    """``FirstQuality``: the bitrate of the variant HLS lists first."""

    bitrate: Annotated[int, Field(ge=1, le=2**31 - 1)]


class MediaFilterProperties(ArmModel):
    """The ``properties`` of an asset or account filter."""

    presentation_time_range: PresentationTimeRange | None = None
    first_quality: FirstQuality | None = None
    tracks: Annotated[list[FilterTrackSelection], Field(max_length=16)] | None = None


class MediaFilter(ArmResource):
    """An AssetFilter or AccountFilter body: ``{"properties": {...}}``."""

    properties: MediaFilterProperties = Field(default_factory=MediaFilterProperties)
    provisioning_state: Any = Field(default=None, exclude=True)
