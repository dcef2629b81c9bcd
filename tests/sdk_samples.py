"""SDK models that use every field openvod accepts, shared by the model and API tests."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.mgmt.media import models as ams

KEY16 = base64.b64encode(bytes(range(16))).decode()
T0 = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def every_account() -> ams.MediaService:
    identity = ams.ResourceIdentity(use_system_assigned_identity=False, user_assigned_identity="u")
    return ams.MediaService(
        location="local", tags={"team": "video", "cost": "1"},
        identity=ams.MediaServiceIdentity(
            type="UserAssigned",
            user_assigned_identities={"/id/u": ams.UserAssignedManagedIdentity()}),
        storage_accounts=[ams.StorageAccount(type="Primary", id="/local/storageAccounts/openvod",
                                             identity=identity)],
        storage_authentication="ManagedIdentity",
        encryption=ams.AccountEncryption(type="SystemKey"),
        key_delivery=ams.KeyDelivery(access_control=ams.AccessControl(default_action="Allow")),
        public_network_access="Enabled",
    )


def every_endpoint() -> ams.StreamingEndpoint:
    return ams.StreamingEndpoint(
        location="local", tags={"a": "b"}, sku=ams.ArmStreamingEndpointCurrentSku(capacity=600),
        description="edge", scale_units=3, availability_set_name="set",
        access_control=ams.StreamingEndpointAccessControl(
            akamai=ams.AkamaiAccessControl(akamai_signature_header_authentication_key_list=[
                ams.AkamaiSignatureHeaderAuthenticationKey(identifier="id1", base64_key=KEY16,
                                                           expiration=T0)]),
            ip=ams.IPAccessControl(allow=[ams.IPRange(name="lan", address="10.0.0.0",
                                                      subnet_prefix_length=8)])),
        max_cache_age=60, custom_host_names=["media.example.com"], cdn_enabled=False,
        cdn_provider="StandardVerizon", cdn_profile="p",
        cross_site_access_policies=ams.CrossSiteAccessPolicies(
            client_access_policy="<access-policy/>", cross_domain_policy="<cross-domain-policy/>"),
    )


def every_locator() -> ams.StreamingLocator:
    return ams.StreamingLocator(
        asset_name="in", streaming_policy_name="Predefined_ClearKey", start_time=T0,
        end_time=T0 + timedelta(days=1), streaming_locator_id=str(uuid.uuid4()),
        default_content_key_policy_name="ckp", alternative_media_id="media-42",
        filters=["first", "second"],
        content_keys=[ams.StreamingLocatorContentKey(
            id=str(uuid.uuid4()), label_reference_in_streaming_policy="k", value=KEY16)],
    )


def _protocols(**on: bool) -> ams.EnabledProtocols:
    flags = {"download": False, "dash": False, "hls": False, "smooth_streaming": False}
    return ams.EnabledProtocols(**{**flags, **on})


def _keys() -> ams.StreamingPolicyContentKeys:
    fourcc = ams.TrackSelection(track_selections=[
        ams.TrackPropertyCondition(property="FourCC", operation="Equal", value="hev1")])
    return ams.StreamingPolicyContentKeys(
        default_key=ams.DefaultKey(label="k", policy_name="ckp"),
        key_to_track_mappings=[ams.StreamingPolicyContentKey(label="hevc", policy_name="ckp2",
                                                             tracks=[fourcc])])


def _clear_tracks() -> list[ams.TrackSelection]:
    return [ams.TrackSelection(track_selections=[
        ams.TrackPropertyCondition(property="FourCC", operation="Equal", value="mp4a")])]


POLICIES = {
    "noEncryption": ams.StreamingPolicy(no_encryption=ams.NoEncryption(
        enabled_protocols=_protocols(download=True, hls=True))),
    "envelopeEncryption": ams.StreamingPolicy(
        default_content_key_policy_name="ckp",
        envelope_encryption=ams.EnvelopeEncryption(
            enabled_protocols=_protocols(hls=True, dash=True, smooth_streaming=True),
            clear_tracks=_clear_tracks(), content_keys=_keys(),
            custom_key_acquisition_url_template="https://keys.example/{ContentKeyId}")),
    "commonEncryptionCenc": ams.StreamingPolicy(common_encryption_cenc=ams.CommonEncryptionCenc(
        enabled_protocols=_protocols(dash=True, smooth_streaming=True),
        clear_tracks=_clear_tracks(), content_keys=_keys(),
        drm=ams.CencDrmConfiguration(
            play_ready=ams.StreamingPolicyPlayReadyConfiguration(
                custom_license_acquisition_url_template="https://pr.example/{ContentKeyId}",
                play_ready_custom_attributes="attr"),
            widevine=ams.StreamingPolicyWidevineConfiguration(
                custom_license_acquisition_url_template="https://wv.example/{ContentKeyId}")),
        clear_key_encryption_configuration=ams.ClearKeyEncryptionConfiguration(
            custom_keys_acquisition_url_template="https://ck.example/{AlternativeMediaId}"))),
    "commonEncryptionCbcs": ams.StreamingPolicy(common_encryption_cbcs=ams.CommonEncryptionCbcs(
        enabled_protocols=_protocols(hls=True, dash=True), content_keys=_keys(),
        drm=ams.CbcsDrmConfiguration(
            fair_play=ams.StreamingPolicyFairPlayConfiguration(
                custom_license_acquisition_url_template="skd://fp.example/{ContentKeyId}",
                allow_persistent_license=True),
            play_ready=ams.StreamingPolicyPlayReadyConfiguration(),
            widevine=ams.StreamingPolicyWidevineConfiguration()),
        clear_key_encryption_configuration=ams.ClearKeyEncryptionConfiguration())),
}


def _play_ready() -> ams.ContentKeyPolicyPlayReadyConfiguration:
    right = ams.ContentKeyPolicyPlayReadyPlayRight(
        first_play_expiration=timedelta(hours=1), scms_restriction=2,
        agc_and_color_stripe_restriction=1,
        explicit_analog_television_output_restriction=(
            ams.ContentKeyPolicyPlayReadyExplicitAnalogTelevisionRestriction(
                best_effort=True, configuration_data=2)),
        digital_video_only_content_restriction=False,
        image_constraint_for_analog_component_video_restriction=True,
        image_constraint_for_analog_computer_monitor_restriction=False,
        allow_passing_video_content_to_unknown_output="Allowed",
        uncompressed_digital_video_opl=300, compressed_digital_video_opl=400,
        analog_video_opl=150, compressed_digital_audio_opl=250, uncompressed_digital_audio_opl=300)
    return ams.ContentKeyPolicyPlayReadyConfiguration(response_custom_data="data", licenses=[
        ams.ContentKeyPolicyPlayReadyLicense(
            allow_test_devices=True, security_level="SL2000", begin_date=T0,
            expiration_date=T0 + timedelta(days=30), relative_begin_date=timedelta(minutes=5),
            relative_expiration_date=timedelta(days=2), grace_period=timedelta(minutes=10),
            play_right=right, license_type="Persistent", content_type="UltraVioletStreaming",
            content_key_location=ams.ContentKeyPolicyPlayReadyContentEncryptionKeyFromHeader()),
        ams.ContentKeyPolicyPlayReadyLicense(
            allow_test_devices=False, license_type="NonPersistent", content_type="Unspecified",
            content_key_location=(
                ams.ContentKeyPolicyPlayReadyContentEncryptionKeyFromKeyIdentifier(
                    key_id=str(uuid.uuid4())))),
    ])


CONFIGURATIONS = {
    "ClearKey": ams.ContentKeyPolicyClearKeyConfiguration(),
    "PlayReady": _play_ready(),
    "Widevine": ams.ContentKeyPolicyWidevineConfiguration(
        widevine_template=json.dumps({"allowed_track_types": "SD_HD"})),
    "FairPlay": ams.ContentKeyPolicyFairPlayConfiguration(
        ask=bytearray(range(16)), fair_play_pfx_password="secret", fair_play_pfx="UEZY",
        rental_and_lease_key_type="PersistentLimited", rental_duration=3600,
        offline_rental_configuration=ams.ContentKeyPolicyFairPlayOfflineRentalConfiguration(
            playback_duration_seconds=600, storage_duration_seconds=86400)),
}
TOKEN_KEYS = {
    "symmetric": ams.ContentKeyPolicySymmetricTokenKey(key_value=bytearray(b"k" * 32)),
    "rsa": ams.ContentKeyPolicyRsaTokenKey(exponent=bytearray(b"\x01\x00\x01"),
                                           modulus=bytearray(range(256))),
    "x509": ams.ContentKeyPolicyX509CertificateTokenKey(raw_body=bytearray(b"0\x82cert")),
}


def token_restriction(key: Any) -> ams.ContentKeyPolicyTokenRestriction:
    return ams.ContentKeyPolicyTokenRestriction(
        issuer="https://issuer.example", audience="urn:openvod", primary_verification_key=key,
        alternate_verification_keys=list(TOKEN_KEYS.values()),
        required_claims=[
            ams.ContentKeyPolicyTokenClaim(
                claim_type="urn:microsoft:azure:mediaservices:contentkeyidentifier"),
            ams.ContentKeyPolicyTokenClaim(claim_type="role", claim_value="viewer")],
        restriction_token_type="Jwt",
        open_id_connect_discovery_document="https://issuer.example/.well-known/openid")


def key_policy(configuration: Any, restriction: Any) -> ams.ContentKeyPolicy:
    return ams.ContentKeyPolicy(description="policy", options=[
        ams.ContentKeyPolicyOption(name="option", configuration=configuration,
                                   restriction=restriction)])
