"""Streaming locators as the SDK sends them (``StreamingLocator``)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from openvod.resources.base import ArmModel, ArmResource, ArmTime, Base64, Guid
from openvod.resources.streaming_policies import TrackSelection

Name = Annotated[str, Field(min_length=1, max_length=260)]
KEY_BYTES = 16


def _check_key(value: str) -> str:
    if len(base64.b64decode(value)) != KEY_BYTES:
        raise ValueError(f"must be a {KEY_BYTES}-byte key in base64")
    return value


class StreamingLocatorContentKey(ArmModel):
    """``StreamingLocatorContentKey``: a key the locator should use instead of a random one."""

    id: Guid
    label_reference_in_streaming_policy: Annotated[str, Field(max_length=260)] | None = None
    value: Annotated[Base64, AfterValidator(_check_key)] | None = None
    # read-only: what the server answers with, accepted back and ignored
    type: Any = Field(default=None, exclude=True)
    policy_name: Any = Field(default=None, exclude=True)
    tracks: list[TrackSelection] | None = Field(default=None, exclude=True)


class StreamingLocatorProperties(ArmModel):
    """The ``properties`` of a streaming locator PUT."""

    asset_name: Name
    streaming_policy_name: Name
    start_time: ArmTime | None = None
    end_time: ArmTime | None = None
    streaming_locator_id: Guid | None = None
    default_content_key_policy_name: Name | None = None
    content_keys: Annotated[list[StreamingLocatorContentKey], Field(max_length=16)] | None = None
    alternative_media_id: Annotated[str, Field(max_length=1024)] | None = None
    filters: Annotated[list[Name], Field(max_length=64)] | None = None
    created: Any = Field(default=None, exclude=True)  # read-only

    @model_validator(mode="after")
    def _end_after_start(self) -> StreamingLocatorProperties:
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValueError("endTime must be after startTime")
        return self


class StreamingLocator(ArmResource):
    """A streaming locator PUT body."""

    properties: StreamingLocatorProperties
