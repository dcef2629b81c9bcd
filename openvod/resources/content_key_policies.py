"""Content key policies as the SDK sends them: options of a configuration and a restriction.

Configurations (ClearKey, PlayReady, Widevine, FairPlay), restrictions (Open,
Token) and token keys (symmetric, RSA, X509) are unions on ``@odata.type``;
the SDK's ``Unknown`` types are refused, as AMS refused them at create.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from openvod.resources.base import ArmModel, ArmResource, ArmTime, Base64, Duration, Guid
from openvod.resources.odata import NS, WHOLE, canonical_case, check_odata_type, odata_field

INT32 = 2**31 - 1
Text = Annotated[str, Field(max_length=4096)]
Count = Annotated[int, Field(ge=0, le=INT32), WHOLE]
Level = Annotated[int, Field(ge=0, le=500), WHOLE]
SecurityLevelName = Literal["Unknown", "SL150", "SL2000", "SL3000"]
LicenseTypeName = Literal["Unknown", "NonPersistent", "Persistent"]
ContentTypeName = Literal["Unknown", "Unspecified", "UltraVioletDownload", "UltraVioletStreaming"]
UnknownOutputName = Literal["Unknown", "NotAllowed", "Allowed", "AllowedWithVideoConstriction"]
RentalKeyTypeName = Literal[
    "Unknown", "Undefined", "DualExpiry", "PersistentUnlimited", "PersistentLimited"
]
TokenTypeName = Literal["Unknown", "Swt", "Jwt"]
SecurityLevel = Annotated[SecurityLevelName, canonical_case(SecurityLevelName)]
LicenseType = Annotated[LicenseTypeName, canonical_case(LicenseTypeName)]
ContentType = Annotated[ContentTypeName, canonical_case(ContentTypeName)]
UnknownOutput = Annotated[UnknownOutputName, canonical_case(UnknownOutputName)]
RentalKeyType = Annotated[RentalKeyTypeName, canonical_case(RentalKeyTypeName)]
TokenType = Annotated[TokenTypeName, canonical_case(TokenTypeName)]


class ContentKeyPolicyClearKeyConfiguration(ArmModel):
    """``ContentKeyPolicyClearKeyConfiguration``: the key itself (HLS AES-128, W3C ClearKey)."""

    odata_type: Literal["#Microsoft.Media.ContentKeyPolicyClearKeyConfiguration"] = odata_field()


class ContentKeyPolicyPlayReadyContentEncryptionKeyFromHeader(ArmModel):
    """``ContentKeyPolicyPlayReadyContentEncryptionKeyFromHeader``."""

    odata_type: Literal[
        "#Microsoft.Media.ContentKeyPolicyPlayReadyContentEncryptionKeyFromHeader"
    ] = odata_field()


class ContentKeyPolicyPlayReadyContentEncryptionKeyFromKeyIdentifier(ArmModel):
    """``ContentKeyPolicyPlayReadyContentEncryptionKeyFromKeyIdentifier``: a fixed key id."""

    odata_type: Literal[
        "#Microsoft.Media.ContentKeyPolicyPlayReadyContentEncryptionKeyFromKeyIdentifier"
    ] = odata_field()
    key_id: Guid


_KEY_LOCATIONS = (
    NS + "ContentKeyPolicyPlayReadyContentEncryptionKeyFromHeader",
    NS + "ContentKeyPolicyPlayReadyContentEncryptionKeyFromKeyIdentifier",
)
PlayReadyKeyLocation = Annotated[
    ContentKeyPolicyPlayReadyContentEncryptionKeyFromHeader
    | ContentKeyPolicyPlayReadyContentEncryptionKeyFromKeyIdentifier,
    Field(discriminator="odata_type"),
    check_odata_type(_KEY_LOCATIONS, "PlayReady content key location"),
]


class ContentKeyPolicyPlayReadyExplicitAnalogTelevisionRestriction(ArmModel):
    """``ContentKeyPolicyPlayReadyExplicitAnalogTelevisionRestriction``."""

    best_effort: bool
    configuration_data: Annotated[int, Field(ge=0, le=3), WHOLE]


class ContentKeyPolicyPlayReadyPlayRight(ArmModel):
    """``ContentKeyPolicyPlayReadyPlayRight``: output protection levels and restrictions."""

    first_play_expiration: Duration | None = None
    scms_restriction: Annotated[int, Field(ge=0, le=3), WHOLE] | None = None
    agc_and_color_stripe_restriction: Annotated[int, Field(ge=0, le=3), WHOLE] | None = None
    explicit_analog_television_output_restriction: (
        ContentKeyPolicyPlayReadyExplicitAnalogTelevisionRestriction | None
    ) = None
    digital_video_only_content_restriction: bool
    image_constraint_for_analog_component_video_restriction: bool
    image_constraint_for_analog_computer_monitor_restriction: bool
    allow_passing_video_content_to_unknown_output: UnknownOutput
    uncompressed_digital_video_opl: Level | None = None
    compressed_digital_video_opl: Level | None = None
    analog_video_opl: Level | None = None
    compressed_digital_audio_opl: Level | None = None
    uncompressed_digital_audio_opl: Level | None = None


class ContentKeyPolicyPlayReadyLicense(ArmModel):
    """``ContentKeyPolicyPlayReadyLicense``: one license template."""

    allow_test_devices: bool
    security_level: SecurityLevel | None = None
    begin_date: ArmTime | None = None
    expiration_date: ArmTime | None = None
    relative_begin_date: Duration | None = None
    relative_expiration_date: Duration | None = None
    grace_period: Duration | None = None
    play_right: ContentKeyPolicyPlayReadyPlayRight | None = None
    license_type: LicenseType
    content_key_location: PlayReadyKeyLocation
    content_type: ContentType


class ContentKeyPolicyPlayReadyConfiguration(ArmModel):
    """``ContentKeyPolicyPlayReadyConfiguration``: licenses for an external PlayReady server."""

    odata_type: Literal["#Microsoft.Media.ContentKeyPolicyPlayReadyConfiguration"] = odata_field()
    licenses: Annotated[list[ContentKeyPolicyPlayReadyLicense], Field(min_length=1, max_length=16)]
    response_custom_data: Text | None = None


class ContentKeyPolicyWidevineConfiguration(ArmModel):
    """``ContentKeyPolicyWidevineConfiguration``: a Widevine license template (JSON text)."""

    odata_type: Literal["#Microsoft.Media.ContentKeyPolicyWidevineConfiguration"] = odata_field()
    widevine_template: Annotated[str, Field(max_length=65536)]


class ContentKeyPolicyFairPlayOfflineRentalConfiguration(ArmModel):
    """``ContentKeyPolicyFairPlayOfflineRentalConfiguration``."""

    playback_duration_seconds: Count
    storage_duration_seconds: Count


class ContentKeyPolicyFairPlayConfiguration(ArmModel):
    """``ContentKeyPolicyFairPlayConfiguration``: application secret key and certificate."""

    odata_type: Literal["#Microsoft.Media.ContentKeyPolicyFairPlayConfiguration"] = odata_field()
    ask: Base64
    fair_play_pfx_password: Text
    fair_play_pfx: Annotated[str, Field(max_length=65536)]
    rental_and_lease_key_type: RentalKeyType
    rental_duration: Count
    offline_rental_configuration: ContentKeyPolicyFairPlayOfflineRentalConfiguration | None = None


_UNKNOWN = "is the SDK's placeholder for a type it could not read; send a real one"
CONFIGURATION_TYPES = (
    NS + "ContentKeyPolicyClearKeyConfiguration",
    NS + "ContentKeyPolicyPlayReadyConfiguration",
    NS + "ContentKeyPolicyWidevineConfiguration",
    NS + "ContentKeyPolicyFairPlayConfiguration",
)
Configuration = Annotated[
    ContentKeyPolicyClearKeyConfiguration
    | ContentKeyPolicyPlayReadyConfiguration
    | ContentKeyPolicyWidevineConfiguration
    | ContentKeyPolicyFairPlayConfiguration,
    Field(discriminator="odata_type"),
    check_odata_type(CONFIGURATION_TYPES, "content key policy configuration", {
        NS + "ContentKeyPolicyUnknownConfiguration":
            f"{NS}ContentKeyPolicyUnknownConfiguration {_UNKNOWN}",
    }),
]  # fmt: skip


class ContentKeyPolicySymmetricTokenKey(ArmModel):
    """``ContentKeyPolicySymmetricTokenKey``: an HMAC key."""

    odata_type: Literal["#Microsoft.Media.ContentKeyPolicySymmetricTokenKey"] = odata_field()
    key_value: Base64


class ContentKeyPolicyRsaTokenKey(ArmModel):
    """``ContentKeyPolicyRsaTokenKey``: an RSA public key as exponent and modulus."""

    odata_type: Literal["#Microsoft.Media.ContentKeyPolicyRsaTokenKey"] = odata_field()
    exponent: Base64
    modulus: Base64


class ContentKeyPolicyX509CertificateTokenKey(ArmModel):
    """``ContentKeyPolicyX509CertificateTokenKey``: a certificate (DER, base64)."""

    odata_type: Literal[
        "#Microsoft.Media.ContentKeyPolicyX509CertificateTokenKey"
    ] = odata_field()
    raw_body: Base64


TOKEN_KEY_TYPES = (
    NS + "ContentKeyPolicySymmetricTokenKey",
    NS + "ContentKeyPolicyRsaTokenKey",
    NS + "ContentKeyPolicyX509CertificateTokenKey",
)
TokenKey = Annotated[
    ContentKeyPolicySymmetricTokenKey
    | ContentKeyPolicyRsaTokenKey
    | ContentKeyPolicyX509CertificateTokenKey,
    Field(discriminator="odata_type"),
    check_odata_type(TOKEN_KEY_TYPES, "token key"),
]


class ContentKeyPolicyTokenClaim(ArmModel):
    """``ContentKeyPolicyTokenClaim``: a claim the token must carry (with this value, if given)."""

    claim_type: Text | None = None
    claim_value: Text | None = None


class ContentKeyPolicyOpenRestriction(ArmModel):
    """``ContentKeyPolicyOpenRestriction``: keys for anyone."""

    odata_type: Literal["#Microsoft.Media.ContentKeyPolicyOpenRestriction"] = odata_field()


class ContentKeyPolicyTokenRestriction(ArmModel):
    """``ContentKeyPolicyTokenRestriction``: keys for a valid JWT or SWT."""

    odata_type: Literal["#Microsoft.Media.ContentKeyPolicyTokenRestriction"] = odata_field()
    issuer: Text
    audience: Text
    primary_verification_key: TokenKey
    alternate_verification_keys: Annotated[list[TokenKey], Field(max_length=16)] | None = None
    required_claims: Annotated[list[ContentKeyPolicyTokenClaim], Field(max_length=64)] | None = None
    restriction_token_type: TokenType
    open_id_connect_discovery_document: Annotated[str, Field(max_length=2048)] | None = None


RESTRICTION_TYPES = (
    NS + "ContentKeyPolicyOpenRestriction",
    NS + "ContentKeyPolicyTokenRestriction",
)
Restriction = Annotated[
    ContentKeyPolicyOpenRestriction | ContentKeyPolicyTokenRestriction,
    Field(discriminator="odata_type"),
    check_odata_type(RESTRICTION_TYPES, "content key policy restriction", {
        NS + "ContentKeyPolicyUnknownRestriction":
            f"{NS}ContentKeyPolicyUnknownRestriction {_UNKNOWN}",
    }),
]  # fmt: skip


class ContentKeyPolicyOption(ArmModel):
    """``ContentKeyPolicyOption``: a configuration and the restriction guarding it."""

    policy_option_id: Any = Field(default=None, exclude=True)  # read-only
    name: Annotated[str, Field(max_length=260)] | None = None
    configuration: Configuration
    restriction: Restriction


class ContentKeyPolicyProperties(ArmModel):
    """The ``properties`` of a content key policy."""

    policy_id: Any = Field(default=None, exclude=True)  # read-only
    created: Any = Field(default=None, exclude=True)
    last_modified: Any = Field(default=None, exclude=True)
    description: Text | None = None
    options: Annotated[list[ContentKeyPolicyOption], Field(min_length=1, max_length=32)]


class ContentKeyPolicy(ArmResource):
    """A content key policy PUT body."""

    properties: ContentKeyPolicyProperties


class ContentKeyPolicyUpdateProperties(ContentKeyPolicyProperties):
    """The ``properties`` of a PATCH: what is sent replaces what is stored."""

    options: Annotated[
        list[ContentKeyPolicyOption], Field(min_length=1, max_length=32)
    ] | None = None  # type: ignore[assignment]


class ContentKeyPolicyUpdate(ArmResource):
    """A content key policy PATCH body."""

    properties: ContentKeyPolicyUpdateProperties | None = None


# Fields a plain GET leaves out; ``getPolicyPropertiesWithSecrets`` returns them.
SECRET_FIELDS = frozenset(
    {"keyValue", "exponent", "modulus", "rawBody", "ask", "fairPlayPfx", "fairPlayPfxPassword"}
)


def without_secrets(document: Any) -> Any:
    """A copy of a stored policy document without key material and passwords."""
    if isinstance(document, dict):
        return {k: without_secrets(v) for k, v in document.items() if k not in SECRET_FIELDS}
    if isinstance(document, list):
        return [without_secrets(item) for item in document]
    return document
