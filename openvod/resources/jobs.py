"""Jobs as the SDK sends them: an input, one output per transform output, a priority."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from openvod.resources.base import ArmModel, ArmResource, Duration
from openvod.resources.odata import NS, check_odata_type, odata_field
from openvod.resources.presets import Preset

PriorityName = Literal["Low", "Normal", "High"]


class AbsoluteClipTime(ArmModel):
    """``#Microsoft.Media.AbsoluteClipTime``: a time from the start of the input."""

    odata_type: Literal["#Microsoft.Media.AbsoluteClipTime"] = odata_field()
    time: Duration


# UtcClipTime needs the input's wall-clock timeline (live archives); VoD files have none.
ClipTime = Annotated[
    AbsoluteClipTime,
    check_odata_type((NS + "AbsoluteClipTime",), "clip time", {
        NS + "UtcClipTime": f"{NS}UtcClipTime is not supported (VoD inputs have no UTC "
        "timeline); use AbsoluteClipTime",
    }),
]  # fmt: skip


class _Clip(ArmModel):
    """What JobInputAsset and JobInputHttp share (``JobInputClip`` in the SDK)."""

    files: list[str] | None = None
    start: ClipTime | None = None
    end: ClipTime | None = None
    label: str | None = None


class JobInputAsset(_Clip):
    """``#Microsoft.Media.JobInputAsset``: files of an asset (all of them when none are named)."""

    odata_type: Literal["#Microsoft.Media.JobInputAsset"] = odata_field()
    asset_name: Annotated[str, Field(min_length=1)]


class JobInputHttp(_Clip):
    """``#Microsoft.Media.JobInputHttp``: files fetched from ``baseUri`` + each file name."""

    odata_type: Literal["#Microsoft.Media.JobInputHttp"] = odata_field()
    base_uri: str | None = None


_ABSTRACT_CLIP = f"{NS}JobInputClip is abstract; use JobInputAsset or JobInputHttp"
CLIP_TYPES = (NS + "JobInputAsset", NS + "JobInputHttp")
Clip = Annotated[
    JobInputAsset | JobInputHttp,
    Field(discriminator="odata_type"),
    check_odata_type(CLIP_TYPES, "job input", {
        NS + "JobInputs": "may not nest JobInputs; list the files in one JobInputs",
        NS + "JobInputSequence": "may not nest a JobInputSequence here; list its clips instead",
        NS + "JobInputClip": _ABSTRACT_CLIP,
    }),
]  # fmt: skip


class JobInputSequence(ArmModel):
    """``#Microsoft.Media.JobInputSequence``: clips stitched into one input, in order.

    Each clip is an asset or HTTP input with an optional ``start``/``end``, so a
    sequence also inserts: ``[A until 5 s, B, A from 5 s]`` puts B into A.
    """

    odata_type: Literal["#Microsoft.Media.JobInputSequence"] = odata_field()
    inputs: Annotated[list[Clip], Field(min_length=1)]


SequenceOrClip = Annotated[
    JobInputAsset | JobInputHttp | JobInputSequence,
    Field(discriminator="odata_type"),
    check_odata_type((*CLIP_TYPES, NS + "JobInputSequence"), "job input", {
        NS + "JobInputs": "may not nest JobInputs; list the files in one JobInputs",
        NS + "JobInputClip": _ABSTRACT_CLIP,
    }),
]  # fmt: skip


class JobInputs(ArmModel):
    """``#Microsoft.Media.JobInputs``: several inputs, encoded one after the other."""

    odata_type: Literal["#Microsoft.Media.JobInputs"] = odata_field()
    inputs: Annotated[list[SequenceOrClip], Field(min_length=1)]


INPUT_TYPES = (*CLIP_TYPES, NS + "JobInputs", NS + "JobInputSequence")
JobInput = Annotated[
    JobInputAsset | JobInputHttp | JobInputs | JobInputSequence,
    Field(discriminator="odata_type"),
    check_odata_type(INPUT_TYPES, "job input", {NS + "JobInputClip": _ABSTRACT_CLIP}),
]  # fmt: skip


class JobOutputAsset(ArmModel):
    """``#Microsoft.Media.JobOutputAsset``: the asset one transform output writes into."""

    odata_type: Literal["#Microsoft.Media.JobOutputAsset"] = odata_field()
    asset_name: Annotated[str, Field(min_length=1)]
    label: str | None = None
    preset_override: Preset | None = None
    # read-only, what a GET shows: accepted back and ignored
    error: Any = Field(default=None, exclude=True)
    state: Any = Field(default=None, exclude=True)
    progress: Any = Field(default=None, exclude=True)
    start_time: Any = Field(default=None, exclude=True)
    end_time: Any = Field(default=None, exclude=True)


JobOutput = Annotated[
    JobOutputAsset, check_odata_type((NS + "JobOutputAsset",), "job output")
]


class JobProperties(ArmModel):
    """The ``properties`` of a job PUT."""

    description: str | None = None
    input: JobInput
    outputs: Annotated[list[JobOutput], Field(min_length=1)]
    priority: PriorityName | None = None
    correlation_data: dict[str, str] | None = None
    # read-only, what a GET shows: accepted back and ignored
    created: Any = Field(default=None, exclude=True)
    last_modified: Any = Field(default=None, exclude=True)
    state: Any = Field(default=None, exclude=True)
    start_time: Any = Field(default=None, exclude=True)
    end_time: Any = Field(default=None, exclude=True)


class Job(ArmResource):
    """A job PUT body: ``{"properties": {...}}``."""

    properties: JobProperties


class JobUpdateProperties(ArmModel):
    """The ``properties`` of a job PATCH: description, priority and correlation data change.

    The SDK's ``jobs.update`` sends a whole Job, so input and outputs may come
    along; they are checked for shape and otherwise left as submitted.
    """

    description: str | None = None
    input: JobInput | None = None
    outputs: list[JobOutput] | None = None
    priority: PriorityName | None = None
    correlation_data: dict[str, str] | None = None
    # read-only, what a GET shows: accepted back and ignored
    created: Any = Field(default=None, exclude=True)
    last_modified: Any = Field(default=None, exclude=True)
    state: Any = Field(default=None, exclude=True)
    start_time: Any = Field(default=None, exclude=True)
    end_time: Any = Field(default=None, exclude=True)


class JobUpdate(ArmResource):
    """A job PATCH body."""

    properties: JobUpdateProperties = Field(default_factory=JobUpdateProperties)
