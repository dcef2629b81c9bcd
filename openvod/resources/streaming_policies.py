"""Streaming policies as the SDK sends them: protocols and encryption per scheme.

Every shape ``azure-mgmt-media`` 10.2.1 serializes is accepted: ``noEncryption``,
``envelopeEncryption``, ``commonEncryptionCenc`` and ``commonEncryptionCbcs``
with their content keys, clear tracks, DRM configurations and URL templates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from openvod.resources.base import ArmModel, ArmResource
from openvod.resources.odata import canonical_case

Name = Annotated[str, Field(max_length=260)]
Url = Annotated[str, Field(max_length=2048)]
PropertyName = Literal["Unknown", "FourCC"]
OperationName = Literal["Unknown", "Equal"]


class EnabledProtocols(ArmModel):
    """``EnabledProtocols``: which protocols a scheme serves (all four flags are sent)."""

    download: bool
    dash: bool
    hls: bool
    smooth_streaming: bool

    def names(self) -> set[str]:
        """The enabled protocols by their wire names."""
        flags = {"download": self.download, "dash": self.dash, "hls": self.hls,
                 "smoothStreaming": self.smooth_streaming}
        return {name for name, on in flags.items() if on}


class TrackPropertyCondition(ArmModel):
    """``TrackPropertyCondition``: e.g. ``FourCC Equal hev1``."""

    property: Annotated[PropertyName, canonical_case(PropertyName)]
    operation: Annotated[OperationName, canonical_case(OperationName)]
    value: Name | None = None


class TrackSelection(ArmModel):
    """``TrackSelection``: the tracks all of whose conditions hold."""

    track_selections: list[TrackPropertyCondition] | None = None


class DefaultKey(ArmModel):
    """``DefaultKey``: the label and content key policy of the key every track uses."""

    label: Name | None = None
    policy_name: Name | None = None


class StreamingPolicyContentKey(ArmModel):
    """``StreamingPolicyContentKey``: a key for some tracks."""

    label: Name | None = None
    policy_name: Name | None = None
    tracks: list[TrackSelection] | None = None


class StreamingPolicyContentKeys(ArmModel):
    """``StreamingPolicyContentKeys``: the default key and per-track keys."""

    default_key: DefaultKey | None = None
    key_to_track_mappings: list[StreamingPolicyContentKey] | None = None


class StreamingPolicyPlayReadyConfiguration(ArmModel):
    """``StreamingPolicyPlayReadyConfiguration``: an external license server's URL template."""

    custom_license_acquisition_url_template: Url | None = None
    play_ready_custom_attributes: Annotated[str, Field(max_length=4096)] | None = None


class StreamingPolicyWidevineConfiguration(ArmModel):
    """``StreamingPolicyWidevineConfiguration``: an external license server's URL template."""

    custom_license_acquisition_url_template: Url | None = None


class StreamingPolicyFairPlayConfiguration(ArmModel):
    """``StreamingPolicyFairPlayConfiguration``: an external license server's URL template."""

    custom_license_acquisition_url_template: Url | None = None
    allow_persistent_license: bool


class ClearKeyEncryptionConfiguration(ArmModel):
    """``ClearKeyEncryptionConfiguration``: W3C ClearKey licenses for CENC/CBCS."""

    custom_keys_acquisition_url_template: Url | None = None


class CencDrmConfiguration(ArmModel):
    """``CencDrmConfiguration``: PlayReady and Widevine for ``cenc``."""

    play_ready: StreamingPolicyPlayReadyConfiguration | None = None
    widevine: StreamingPolicyWidevineConfiguration | None = None


class CbcsDrmConfiguration(ArmModel):
    """``CbcsDrmConfiguration``: FairPlay (and PlayReady, Widevine) for ``cbcs``."""

    fair_play: StreamingPolicyFairPlayConfiguration | None = None
    play_ready: StreamingPolicyPlayReadyConfiguration | None = None
    widevine: StreamingPolicyWidevineConfiguration | None = None


class _Scheme(ArmModel):
    """What every scheme has: the protocols it enables (at least one)."""

    enabled_protocols: EnabledProtocols | None = None

    def protocols(self) -> set[str]:
        """The enabled protocols by their wire names."""
        return self.enabled_protocols.names() if self.enabled_protocols else set()

    @model_validator(mode="after")
    def _some_protocol(self) -> _Scheme:
        if not self.protocols():
            raise ValueError(
                "enabledProtocols must enable at least one of download, dash, hls, "
                "smoothStreaming")
        return self


class NoEncryption(_Scheme):
    """``NoEncryption``: clear streaming and download."""


class EncryptedScheme(_Scheme):
    """What every encrypting scheme has."""

    clear_tracks: list[TrackSelection] | None = None
    content_keys: StreamingPolicyContentKeys | None = None

    @model_validator(mode="after")
    def _no_download(self) -> EncryptedScheme:
        if "download" in self.protocols():
            raise ValueError("download cannot be enabled with encryption")
        return self


class EnvelopeEncryption(EncryptedScheme):
    """``EnvelopeEncryption``: AES-128 (HLS ``#EXT-X-KEY``, ``encryption=cbc``)."""

    custom_key_acquisition_url_template: Url | None = None


class CommonEncryptionCenc(EncryptedScheme):
    """``CommonEncryptionCenc``: CENC ``cenc`` for DASH and Smooth."""

    drm: CencDrmConfiguration | None = None
    clear_key_encryption_configuration: ClearKeyEncryptionConfiguration | None = None


class CommonEncryptionCbcs(EncryptedScheme):
    """``CommonEncryptionCbcs``: CENC ``cbcs`` for HLS and DASH."""

    drm: CbcsDrmConfiguration | None = None
    clear_key_encryption_configuration: ClearKeyEncryptionConfiguration | None = None


SCHEMES = ("noEncryption", "envelopeEncryption", "commonEncryptionCenc", "commonEncryptionCbcs")


class StreamingPolicyProperties(ArmModel):
    """The ``properties`` of a streaming policy: at least one scheme, each enabling a protocol."""

    default_content_key_policy_name: Name | None = None
    envelope_encryption: EnvelopeEncryption | None = None
    common_encryption_cenc: CommonEncryptionCenc | None = None
    common_encryption_cbcs: CommonEncryptionCbcs | None = None
    no_encryption: NoEncryption | None = None
    created: object = Field(default=None, exclude=True)  # read-only

    def schemes(self) -> dict[str, _Scheme]:
        """The schemes present, by wire name."""
        given = {
            "noEncryption": self.no_encryption,
            "envelopeEncryption": self.envelope_encryption,
            "commonEncryptionCenc": self.common_encryption_cenc,
            "commonEncryptionCbcs": self.common_encryption_cbcs,
        }
        return {name: section for name, section in given.items() if section is not None}

    def enabled_protocols(self) -> dict[str, set[str]]:
        """Scheme -> the protocols it enables."""
        return {name: section.protocols() for name, section in self.schemes().items()}

    @model_validator(mode="after")
    def _some_scheme(self) -> StreamingPolicyProperties:
        if not self.schemes():
            raise ValueError(
                "needs one of noEncryption, envelopeEncryption, commonEncryptionCenc or "
                "commonEncryptionCbcs")
        return self


class StreamingPolicy(ArmResource):
    """A streaming policy PUT body."""

    properties: StreamingPolicyProperties
