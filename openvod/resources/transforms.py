"""Transforms as the SDK sends them: named lists of presets that jobs run."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from openvod.resources.base import ArmModel, ArmResource
from openvod.resources.presets import Preset

OnErrorName = Literal["StopProcessingJob", "ContinueJob"]
PriorityName = Literal["Low", "Normal", "High"]


class TransformOutput(ArmModel):
    """``TransformOutput``: one preset, what a failure of it does, and its priority."""

    on_error: OnErrorName = "StopProcessingJob"
    relative_priority: PriorityName = "Normal"
    preset: Preset


class TransformProperties(ArmModel):
    """The ``properties`` of a transform PUT."""

    description: str | None = None
    outputs: Annotated[list[TransformOutput], Field(min_length=1)]
    created: Any = Field(default=None, exclude=True)  # read-only, ignored
    last_modified: Any = Field(default=None, exclude=True)


class Transform(ArmResource):
    """A transform PUT body: ``{"properties": {...}}``."""

    properties: TransformProperties


class TransformUpdateProperties(ArmModel):
    """The ``properties`` of a transform PATCH: whatever is present is replaced."""

    description: str | None = None
    outputs: Annotated[list[TransformOutput], Field(min_length=1)] | None = None
    created: Any = Field(default=None, exclude=True)  # read-only, ignored
    last_modified: Any = Field(default=None, exclude=True)


class TransformUpdate(ArmResource):
    """A transform PATCH body."""

    properties: TransformUpdateProperties = Field(default_factory=TransformUpdateProperties)
