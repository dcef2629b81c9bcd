"""Assets as the SDK sends them (``Asset``) and the ``listContainerSas`` request."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from openvod.resources.base import ArmModel, ArmResource, ArmTime
from openvod.resources.odata import canonical_case

EncryptionFormatName = Literal["None", "MediaStorageClientEncryption"]
PermissionName = Literal["Read", "ReadWrite", "ReadWriteDelete"]
Text = Annotated[str, Field(max_length=4096)]


class AssetProperties(ArmModel):
    """The ``properties`` of an asset PUT or PATCH (read-only ones are accepted and ignored)."""

    alternate_id: Text | None = None
    description: Text | None = None
    container: Annotated[str, Field(max_length=63)] | None = None
    storage_account_name: Annotated[str, Field(max_length=128)] | None = None
    storage_encryption_format: Annotated[
        EncryptionFormatName, canonical_case(EncryptionFormatName)
    ] | None = None
    asset_id: Any = Field(default=None, exclude=True)
    created: Any = Field(default=None, exclude=True)
    last_modified: Any = Field(default=None, exclude=True)


class Asset(ArmResource):
    """An asset PUT or PATCH body: ``{"properties": {...}}`` (both may be left out)."""

    properties: AssetProperties | None = None

    @property
    def props(self) -> AssetProperties:
        """The properties sent, or empty ones."""
        return self.properties or AssetProperties()


class ListContainerSasInput(ArmModel):
    """The ``listContainerSas`` request: permissions and when the URLs expire."""

    permissions: Annotated[PermissionName, canonical_case(PermissionName)]
    expiry_time: ArmTime
