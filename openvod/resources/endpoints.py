"""Streaming endpoints as the SDK sends them (``StreamingEndpoint``) and the scale request."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from openvod.resources.base import ArmModel, ArmResource, ArmTime, Tags
from openvod.resources.odata import WHOLE

# AMS: up to 10 streaming units per endpoint without a support request.
MAX_SCALE_UNITS = 10
INT32 = 2**31 - 1
Units = Annotated[int, Field(ge=0, le=MAX_SCALE_UNITS), WHOLE]
Short = Annotated[str, Field(max_length=1024)]


class ArmStreamingEndpointCurrentSku(ArmModel):
    """``ArmStreamingEndpointCurrentSku``: the capacity (its name is read-only)."""

    name: Any = Field(default=None, exclude=True)
    capacity: Annotated[int, Field(ge=0, le=INT32), WHOLE] | None = None


class AkamaiSignatureHeaderAuthenticationKey(ArmModel):
    """``AkamaiSignatureHeaderAuthenticationKey``."""

    identifier: Short | None = None
    base64_key: Short | None = None
    expiration: ArmTime | None = None


class AkamaiAccessControl(ArmModel):
    """``AkamaiAccessControl``: Akamai signature header keys."""

    akamai_signature_header_authentication_key_list: list[
        AkamaiSignatureHeaderAuthenticationKey] | None = None


class IPRange(ArmModel):
    """``IPRange``: an address and prefix length allowed to stream."""

    name: Short | None = None
    address: Short | None = None
    subnet_prefix_length: Annotated[int, Field(ge=0, le=128), WHOLE] | None = None


class IPAccessControl(ArmModel):
    """``IPAccessControl``: the allowed ranges."""

    allow: list[IPRange] | None = None


class StreamingEndpointAccessControl(ArmModel):
    """``StreamingEndpointAccessControl``: Akamai and IP access control, kept as sent."""

    akamai: AkamaiAccessControl | None = None
    ip: IPAccessControl | None = None


class CrossSiteAccessPolicies(ArmModel):
    """``CrossSiteAccessPolicies``: clientaccesspolicy.xml and crossdomain.xml contents."""

    client_access_policy: Annotated[str, Field(max_length=65536)] | None = None
    cross_domain_policy: Annotated[str, Field(max_length=65536)] | None = None


class StreamingEndpointProperties(ArmModel):
    """The ``properties`` of an endpoint PUT or PATCH (read-only ones are ignored)."""

    description: Short | None = None
    scale_units: Units | None = None
    availability_set_name: Short | None = None
    access_control: StreamingEndpointAccessControl | None = None
    max_cache_age: Annotated[int, Field(ge=0, le=INT32), WHOLE] | None = None
    custom_host_names: Annotated[list[Annotated[str, Field(max_length=253)]],
                                 Field(max_length=64)] | None = None
    cdn_enabled: bool | None = None
    cdn_provider: Short | None = None
    cdn_profile: Short | None = None
    cross_site_access_policies: CrossSiteAccessPolicies | None = None
    host_name: Any = Field(default=None, exclude=True)
    provisioning_state: Any = Field(default=None, exclude=True)
    resource_state: Any = Field(default=None, exclude=True)
    free_trial_end_time: Any = Field(default=None, exclude=True)
    created: Any = Field(default=None, exclude=True)
    last_modified: Any = Field(default=None, exclude=True)


class StreamingEndpoint(ArmResource):
    """An endpoint PUT or PATCH body."""

    location: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    tags: Tags | None = None
    sku: ArmStreamingEndpointCurrentSku | None = None
    properties: StreamingEndpointProperties | None = None

    @property
    def props(self) -> StreamingEndpointProperties:
        """The properties sent, or empty ones."""
        return self.properties or StreamingEndpointProperties()


class StreamingEntityScaleUnit(ArmModel):
    """The ``scale`` request: the new number of streaming units."""

    scale_unit: Units
