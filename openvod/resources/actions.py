"""What the resource actions answer (``listContainerSas``, ``listPaths``, ...), as the SDK reads it.

These are response models: services build them, the API returns them, and
the OpenAPI document shows them as the actions' response schemas.
"""

from __future__ import annotations

from typing import Any, Literal

from openvod.resources.base import ArmModel

ProtocolName = Literal["Hls", "Dash", "SmoothStreaming", "Download"]
SchemeName = Literal["NoEncryption", "EnvelopeEncryption", "CommonEncryptionCenc",
                     "CommonEncryptionCbcs"]
KeyTypeName = Literal["EnvelopeEncryption", "CommonEncryptionCenc", "CommonEncryptionCbcs"]


class ListContainerSasResponse(ArmModel):
    """``listContainerSas``: signed URLs of the asset's container."""

    asset_container_sas_urls: list[str]


class AssetStreamingLocator(ArmModel):
    """One locator of an asset, as ``listStreamingLocators`` lists it."""

    name: str
    asset_name: str
    created: str | None
    start_time: str | None
    end_time: str | None
    streaming_locator_id: str
    streaming_policy_name: str
    default_content_key_policy_name: str | None


class ListStreamingLocatorsResponse(ArmModel):
    """``listStreamingLocators``: the locators publishing an asset."""

    streaming_locators: list[AssetStreamingLocator]


class StreamingPath(ArmModel):
    """The manifest paths of one protocol and encryption scheme."""

    streaming_protocol: ProtocolName
    encryption_scheme: SchemeName
    paths: list[str]


class ListPathsResponse(ArmModel):
    """``listPaths``: streaming paths per protocol and progressive download paths."""

    streaming_paths: list[StreamingPath]
    download_paths: list[str]


class StreamingLocatorKey(ArmModel):
    """A locator's content key as ``listContentKeys`` gives it (with its value)."""

    id: str
    type: KeyTypeName
    label_reference_in_streaming_policy: str | None
    value: str
    policy_name: str | None
    tracks: list[Any]


class ListContentKeysResponse(ArmModel):
    """``listContentKeys``: the locator's keys."""

    content_keys: list[StreamingLocatorKey]


class AsyncOperationResult(ArmModel):
    """The status of an ARM asynchronous operation, as pollers read it."""

    name: str
    status: Literal["InProgress", "Succeeded", "Failed"]
    start_time: str | None
    end_time: str | None
    error: dict[str, Any] | None = None
