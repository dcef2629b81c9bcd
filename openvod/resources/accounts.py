"""Media services accounts as the SDK sends them (``MediaService``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from openvod.resources.base import ArmModel, ArmResource, Tags
from openvod.resources.odata import canonical_case

StorageAccountTypeName = Literal["Primary", "Secondary"]
StorageAuthenticationName = Literal["System", "ManagedIdentity"]
PublicNetworkAccessName = Literal["Enabled", "Disabled"]
TlsVersionName = Literal["Tls10", "Tls11", "Tls12", "Tls13"]


class ResourceIdentity(ArmModel):
    """``ResourceIdentity``: which managed identity reaches a storage account or key vault."""

    user_assigned_identity: str | None = None
    use_system_assigned_identity: bool


class StorageAccount(ArmModel):
    """``StorageAccount``: a storage account attached to the media services account."""

    id: Annotated[str, Field(max_length=1024)] | None = None
    type: Annotated[StorageAccountTypeName, canonical_case(StorageAccountTypeName)]
    identity: ResourceIdentity | None = None
    status: Any = Field(default=None, exclude=True)  # read-only


class KeyVaultProperties(ArmModel):
    """``KeyVaultProperties`` of a customer-managed key (refused: openvod keeps its own keys)."""

    key_identifier: str | None = None
    current_key_identifier: Any = Field(default=None, exclude=True)  # read-only


class AccountEncryption(ArmModel):
    """``AccountEncryption``: openvod encrypts with its own key only (``SystemKey``)."""

    type: Literal["SystemKey"]
    key_vault_properties: KeyVaultProperties | None = None
    identity: ResourceIdentity | None = None
    status: Any = Field(default=None, exclude=True)  # read-only


class AccessControl(ArmModel):
    """``AccessControl`` of key delivery: openvod's key delivery is open to every address."""

    default_action: Literal["Allow"] | None = None
    ip_allow_list: list[str] | None = None


class KeyDelivery(ArmModel):
    """``KeyDelivery``: access control of the account's key delivery."""

    access_control: AccessControl | None = None


class UserAssignedManagedIdentity(ArmModel):
    """``UserAssignedManagedIdentity`` (its ids are read-only)."""

    client_id: Any = Field(default=None, exclude=True)
    principal_id: Any = Field(default=None, exclude=True)


class MediaServiceIdentity(ArmModel):
    """``MediaServiceIdentity``: the account's managed identities, kept as sent."""

    type: Annotated[str, Field(min_length=1, max_length=128)]
    principal_id: Any = Field(default=None, exclude=True)
    tenant_id: Any = Field(default=None, exclude=True)
    user_assigned_identities: dict[str, UserAssignedManagedIdentity] | None = None


class MediaServiceProperties(ArmModel):
    """The ``properties`` of an account PUT (read-only ones are accepted and ignored)."""

    storage_accounts: list[StorageAccount] | None = None
    storage_authentication: Annotated[
        StorageAuthenticationName, canonical_case(StorageAuthenticationName)
    ] | None = None
    encryption: AccountEncryption | None = None
    key_delivery: KeyDelivery | None = None
    public_network_access: Annotated[
        PublicNetworkAccessName, canonical_case(PublicNetworkAccessName)
    ] | None = None
    minimum_tls_version: Annotated[TlsVersionName, canonical_case(TlsVersionName)] | None = None
    media_service_id: Any = Field(default=None, exclude=True)
    provisioning_state: Any = Field(default=None, exclude=True)
    private_endpoint_connections: Any = Field(default=None, exclude=True)


class MediaService(ArmResource):
    """An account PUT body: location, tags, identity and properties."""

    location: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    tags: Tags | None = None
    identity: MediaServiceIdentity | None = None
    properties: MediaServiceProperties | None = None

    @property
    def props(self) -> MediaServiceProperties:
        """The properties sent, or empty ones."""
        return self.properties or MediaServiceProperties()
