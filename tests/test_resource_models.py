"""Accounts, assets, locators, streaming policies, content key policies and endpoints:
the SDK's JSON parsed and re-serialized by openvod is the same JSON; bad fields are named."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media import models as ams
from pydantic import BaseModel

from openvod.errors import InvalidRequestError
from openvod.resources.accounts import MediaService
from openvod.resources.assets import Asset, ListContainerSasInput
from openvod.resources.base import parse
from openvod.resources.content_key_policies import ContentKeyPolicy
from openvod.resources.endpoints import StreamingEndpoint, StreamingEntityScaleUnit
from openvod.resources.locators import StreamingLocator
from openvod.resources.streaming_policies import StreamingPolicy
from tests.conftest import ACCOUNT, RESOURCE_GROUP, ServerHandle
from tests.sdk_samples import (
    CONFIGURATIONS,
    POLICIES,
    T0,
    TOKEN_KEYS,
    every_account,
    every_endpoint,
    every_locator,
    key_policy,
    token_restriction,
)
from tests.test_api_sdk import sdk_client
from tests.test_resource_models_enc import sdk_json

RG, ACC = RESOURCE_GROUP, ACCOUNT
NS = "#Microsoft.Media."


def round_trip(model: type[BaseModel], sdk_model: Any, kind: str) -> tuple[Any, Any]:
    """(what the SDK sends, what openvod writes back after parsing it)."""
    sent = sdk_json(sdk_model, kind)
    parsed = parse(model, sent)
    return sent, parsed.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "sdk_model", "kind"), [
    (MediaService, every_account(), "MediaService"),
    (MediaService, ams.MediaService(location="local"), "MediaService"),
    (Asset, ams.Asset(alternate_id="alt", description="mezzanine", container="asset-abc",
                      storage_account_name="openvod"), "Asset"),
    (Asset, ams.Asset(), "Asset"),
    (StreamingLocator, every_locator(), "StreamingLocator"),
    (StreamingEndpoint, every_endpoint(), "StreamingEndpoint"),
    (StreamingEntityScaleUnit, ams.StreamingEntityScaleUnit(scale_unit=2),
     "StreamingEntityScaleUnit"),
    (ListContainerSasInput, ams.ListContainerSasInput(permissions="ReadWriteDelete",
                                                      expiry_time=T0), "ListContainerSasInput"),
], ids=["account", "account-minimal", "asset", "asset-empty", "locator", "endpoint", "scale",
        "sas"])
def test_sdk_models_round_trip(model: type[BaseModel], sdk_model: Any, kind: str) -> None:
    sent, written = round_trip(model, sdk_model, kind)
    assert written == sent


@pytest.mark.parametrize("scheme", list(POLICIES))
def test_every_streaming_policy_shape_round_trips(scheme: str) -> None:
    sent, written = round_trip(StreamingPolicy, POLICIES[scheme], "StreamingPolicy")
    assert scheme in sent["properties"]
    assert written == sent


@pytest.mark.parametrize("configuration", list(CONFIGURATIONS))
@pytest.mark.parametrize("restriction", ["open", *TOKEN_KEYS])
def test_every_content_key_policy_shape_round_trips(configuration: str, restriction: str) -> None:
    guard = ams.ContentKeyPolicyOpenRestriction() if restriction == "open" else \
        token_restriction(TOKEN_KEYS[restriction])
    policy = key_policy(CONFIGURATIONS[configuration], guard)
    sent, written = round_trip(ContentKeyPolicy, policy, "ContentKeyPolicy")
    assert written == sent


def test_a_get_document_can_be_sent_back() -> None:
    """ARM clients PUT what they read: the read-only envelope and properties are ignored."""
    doc = {"id": "/subscriptions/x", "name": "a", "type": "t", "systemData": {"createdBy": "me"},
           "properties": {"assetId": str(uuid.uuid4()), "created": "2024-01-01T00:00:00Z",
                          "description": "d", "container": "asset-1"}}
    assert parse(Asset, doc).to_json() == {"properties": {"description": "d",
                                                          "container": "asset-1"}}


# --- field paths without a server ---------------------------------------------------------


@pytest.mark.parametrize(("model", "body", "where"), [
    (MediaService, {"tags": "ab"}, "'tags'"),
    (MediaService, {"properties": {"storageAccounts": [{"type": "Tertiary"}]}},
     "'properties.storageAccounts[0].type'"),
    (MediaService, {"properties": {"encryption": {"type": "CustomerKey"}}},
     "'properties.encryption.type'"),
    (Asset, {"properties": 5}, "'properties'"),
    (Asset, {"properties": {"description": ["x"]}}, "'properties.description'"),
    (StreamingLocator, {"properties": {"assetName": "a", "streamingPolicyName": "p",
                                       "contentKeys": 5}}, "'properties.contentKeys'"),
    (StreamingLocator, {"properties": {"assetName": "a", "streamingPolicyName": "p",
                                       "contentKeys": [{"id": "not-a-guid"}]}},
     "'properties.contentKeys[0].id'"),
    (StreamingLocator, {"properties": {"assetName": "a", "streamingPolicyName": "p",
                                       "contentKeys": [{"id": str(uuid.uuid4()),
                                                        "value": "AAAA"}]}},
     "'properties.contentKeys[0].value' must be a 16-byte key"),
    (StreamingLocator, {"properties": {"assetName": "a", "streamingPolicyName": "p",
                                       "startTime": 5}}, "'properties.startTime'"),
    (StreamingLocator, {"properties": {"assetName": "a", "streamingPolicyName": "p",
                                       "startTime": "2030-01-02T00:00:00Z",
                                       "endTime": "2030-01-01T00:00:00Z"}},
     "'properties' endTime must be after startTime"),
    (StreamingPolicy, {"properties": {}}, "'properties' needs one of noEncryption"),
    (StreamingPolicy, {"properties": {"envelopeEncryption": {"enabledProtocols": {
        "download": True, "dash": False, "hls": True, "smoothStreaming": False}}}},
     "'properties.envelopeEncryption' download cannot be enabled with encryption"),
    (StreamingPolicy, {"properties": {"commonEncryptionCbcs": {
        "enabledProtocols": {"download": False, "dash": False, "hls": True,
                             "smoothStreaming": False},
        "drm": {"fairPlay": {"allowPersistentLicense": "yes"}}}}},
     "'properties.commonEncryptionCbcs.drm.fairPlay.allowPersistentLicense'"),
    (StreamingEndpoint, {"properties": {"customHostNames": 5}},
     "'properties.customHostNames'"),
    (StreamingEndpoint, {"properties": {"scaleUnits": 10**30}}, "'properties.scaleUnits'"),
    (StreamingEndpoint, {"properties": {"accessControl": {"ip": {"allow": [
        {"subnetPrefixLength": "24"}]}}}},
     "'properties.accessControl.ip.allow[0].subnetPrefixLength'"),
    (StreamingEntityScaleUnit, {"scaleUnit": -1}, "'scaleUnit'"),
    (ContentKeyPolicy, {"properties": {"options": [{
        "configuration": {"@odata.type": NS + "ContentKeyPolicyClearKeyConfiguration"},
        "restriction": {"@odata.type": NS + "ContentKeyPolicyTokenRestriction",
                        "issuer": "i", "audience": "a", "restrictionTokenType": "Jwt",
                        "primaryVerificationKey": {"@odata.type": NS + "SomeKey"}}}]}},
     "'properties.options[0].restriction.primaryVerificationKey.@odata.type'"),
    (ContentKeyPolicy, {"properties": {"options": [{
        "configuration": {"@odata.type": NS + "ContentKeyPolicyUnknownConfiguration"},
        "restriction": {"@odata.type": NS + "ContentKeyPolicyOpenRestriction"}}]}},
     "'properties.options[0].configuration.@odata.type'"),
    (ContentKeyPolicy, {"properties": {"options": [{
        "configuration": {"@odata.type": NS + "ContentKeyPolicyClearKeyConfiguration"},
        "restriction": {"@odata.type": NS + "ContentKeyPolicyTokenRestriction",
                        "issuer": "i", "audience": "a", "restrictionTokenType": "Jwt",
                        "primaryVerificationKey": {
                            "@odata.type": NS + "ContentKeyPolicySymmetricTokenKey",
                            "keyValue": "not base64!"}}}]}},
     "'properties.options[0].restriction.primaryVerificationKey.keyValue'"),
])
def test_bad_fields_are_named(model: type[BaseModel], body: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse(model, body)
    assert where in caught.value.message, caught.value.message


# --- through the SDK and the real server --------------------------------------------------


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Iterator[AzureMediaServices]:
    sdk = sdk_client(server)
    sdk.mediaservices.begin_create_or_update(RG, ACC, every_account()).result()
    sdk.assets.create_or_update(RG, ACC, "in", ams.Asset())
    sdk.content_key_policies.create_or_update(RG, ACC, "ckp", key_policy(
        ams.ContentKeyPolicyClearKeyConfiguration(), ams.ContentKeyPolicyOpenRestriction()))
    yield sdk


def test_sdk_account_round_trips_through_the_server(client: AzureMediaServices) -> None:
    got = client.mediaservices.get(RG, ACC)
    assert got.tags == {"team": "video", "cost": "1"}
    assert got.storage_authentication == "ManagedIdentity"
    assert got.storage_accounts[0].identity.user_assigned_identity == "u"


def test_sdk_asset_round_trips_through_the_server(client: AzureMediaServices) -> None:
    sent = ams.Asset(alternate_id="alt", description="mezzanine", container="asset-roundtrip")
    stored = client.assets.create_or_update(RG, ACC, "roundtrip", sent)
    for got in (stored, client.assets.get(RG, ACC, "roundtrip")):
        assert (got.alternate_id, got.description, got.container) == (
            "alt", "mezzanine", "asset-roundtrip")


@pytest.mark.parametrize("scheme", list(POLICIES))
def test_sdk_streaming_policies_round_trip_through_the_server(
    client: AzureMediaServices, scheme: str
) -> None:
    name = f"every-{scheme}"
    client.streaming_policies.create(RG, ACC, name, POLICIES[scheme])
    got = client.streaming_policies.get(RG, ACC, name)
    assert sdk_json(got, "StreamingPolicy") == sdk_json(POLICIES[scheme], "StreamingPolicy")


def test_sdk_locator_round_trips_through_the_server(client: AzureMediaServices) -> None:
    client.streaming_policies.create(RG, ACC, "envelope-k", POLICIES["envelopeEncryption"])
    # the policy's keyToTrackMappings entry names 'ckp2': it must exist for a locator
    client.content_key_policies.create_or_update(RG, ACC, "ckp2", key_policy(
        ams.ContentKeyPolicyClearKeyConfiguration(), ams.ContentKeyPolicyOpenRestriction()))
    sent = every_locator()
    sent.streaming_policy_name = "envelope-k"
    got = client.streaming_locators.create(RG, ACC, "every", sent)
    assert (got.start_time, got.end_time) == (sent.start_time, sent.end_time)
    assert (got.alternative_media_id, got.filters) == ("media-42", ["first", "second"])
    assert got.streaming_locator_id == sent.streaming_locator_id
    key, mapped = client.streaming_locators.list_content_keys(RG, ACC, "every").content_keys
    given = sent.content_keys[0]
    assert (key.id, key.value, key.label_reference_in_streaming_policy) == (
        given.id, given.value, "k")
    assert key.policy_name == "ckp"
    # The policy's keyToTrackMappings entry gets a key of its own, under its own policy.
    assert (mapped.label_reference_in_streaming_policy, mapped.policy_name) == ("hevc", "ckp2")
    assert mapped.id != key.id and mapped.type == "EnvelopeEncryption"
    assert [c.value for t in mapped.tracks for c in t.track_selections] == ["hev1"]


def test_sdk_endpoint_round_trips_through_the_server(client: AzureMediaServices) -> None:
    sent = every_endpoint()
    got = client.streaming_endpoints.begin_create(RG, ACC, "edge", sent).result()
    again = client.streaming_endpoints.get(RG, ACC, "edge")
    for endpoint in (got, again):
        body = sdk_json(endpoint, "StreamingEndpoint")
        assert body == sdk_json(sent, "StreamingEndpoint")
    client.streaming_endpoints.begin_delete(RG, ACC, "edge").result()


def test_sdk_endpoint_patch_keeps_what_is_not_sent(client: AzureMediaServices) -> None:
    client.streaming_endpoints.begin_create(RG, ACC, "patched", every_endpoint()).result()
    got = client.streaming_endpoints.begin_update(RG, ACC, "patched", ams.StreamingEndpoint(
        location="local", description="changed")).result()
    assert (got.description, got.max_cache_age, got.custom_host_names) == (
        "changed", 60, ["media.example.com"])
    client.streaming_endpoints.begin_delete(RG, ACC, "patched").result()


def test_sdk_wrong_locator_key_label_is_a_400(client: AzureMediaServices) -> None:
    sent = every_locator()
    sent.streaming_policy_name = "Predefined_ClearStreamingOnly"
    with pytest.raises(HttpResponseError) as info:
        client.streaming_locators.create(RG, ACC, "badkey", sent)
    assert info.value.status_code == 400
    assert "'properties.contentKeys[0].labelReferenceInStreamingPolicy'" in \
        info.value.error.message


@pytest.mark.parametrize("configuration", list(CONFIGURATIONS))
def test_sdk_content_key_policies_keep_secrets_out_of_get(
    client: AzureMediaServices, configuration: str
) -> None:
    sent = key_policy(CONFIGURATIONS[configuration], token_restriction(TOKEN_KEYS["rsa"]))
    name = f"ckp-{configuration.lower()}"
    stored = client.content_key_policies.create_or_update(RG, ACC, name, sent)
    assert stored.policy_id and stored.options[0].policy_option_id
    got = client.content_key_policies.get(RG, ACC, name)
    text = json.dumps(sdk_json(got, "ContentKeyPolicy"))
    for secret in ("keyValue", "modulus", "exponent", "rawBody", "fairPlayPfx", '"ask"'):
        assert secret not in text
    assert got.options[0].restriction.issuer == "https://issuer.example"
    full = client.content_key_policies.get_policy_properties_with_secrets(RG, ACC, name)
    wanted = sdk_json(sent, "ContentKeyPolicy")["properties"]
    assert sdk_json(full, "ContentKeyPolicyProperties") == wanted
    listed = {p.name for p in client.content_key_policies.list(RG, ACC)}
    assert name in listed
    client.content_key_policies.delete(RG, ACC, name)
    with pytest.raises(HttpResponseError) as info:
        client.content_key_policies.get(RG, ACC, name)
    assert info.value.status_code == 404


def test_sdk_content_key_policy_update_and_in_use(client: AzureMediaServices) -> None:
    client.content_key_policies.create_or_update(RG, ACC, "used", key_policy(
        CONFIGURATIONS["ClearKey"], ams.ContentKeyPolicyOpenRestriction()))
    updated = client.content_key_policies.update(RG, ACC, "used", ams.ContentKeyPolicy(
        description="changed"))
    assert updated.description == "changed" and len(updated.options) == 1
    client.streaming_locators.create(RG, ACC, "uses", ams.StreamingLocator(
        asset_name="in", streaming_policy_name="Predefined_ClearKey",
        default_content_key_policy_name="USED"))
    (key,) = client.streaming_locators.list_content_keys(RG, ACC, "uses").content_keys
    assert key.policy_name == "used"
    with pytest.raises(HttpResponseError) as info:
        client.content_key_policies.delete(RG, ACC, "used")
    assert info.value.status_code == 409
    client.streaming_locators.delete(RG, ACC, "uses")
    client.content_key_policies.delete(RG, ACC, "used")
    with pytest.raises(HttpResponseError) as info:
        client.streaming_locators.create(RG, ACC, "dangling", ams.StreamingLocator(
            asset_name="in", streaming_policy_name="Predefined_ClearKey",
            default_content_key_policy_name="used"))
    assert info.value.status_code == 404


def test_sdk_unknown_restriction_is_a_400(client: AzureMediaServices) -> None:
    body = sdk_json(key_policy(CONFIGURATIONS["ClearKey"], ams.ContentKeyPolicyOpenRestriction()),
                    "ContentKeyPolicy")
    body["properties"]["options"][0]["restriction"] = {
        "@odata.type": NS + "ContentKeyPolicyUnknownRestriction"}
    with pytest.raises(HttpResponseError) as info:
        client.content_key_policies.create_or_update(RG, ACC, "unknown",
                                                     json.dumps(body).encode())
    assert info.value.status_code == 400
    assert "'properties.options[0].restriction.@odata.type'" in info.value.error.message


def test_model_names_are_unique_across_resources() -> None:
    """The OpenAPI components are keyed by class name: two models may not share one."""
    import importlib
    import pkgutil

    import openvod.resources

    seen: dict[str, str] = {}
    for info in pkgutil.iter_modules(openvod.resources.__path__):
        module = importlib.import_module(f"openvod.resources.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseModel) \
                    and value.__module__ == module.__name__:
                assert seen.setdefault(name, module.__name__) == module.__name__, name


def test_openapi_shows_every_body_schema(server: ServerHandle) -> None:
    from tests.test_resource_models_enc import references

    with server.http() as http:
        document = http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    bodies = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method in ("put", "patch", "post") and "requestBody" in operation:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                bodies[(method, path.rsplit("/", 2)[-2])] = ref.rsplit("/", 1)[-1]
    assert bodies[("put", "mediaservices")] == "MediaService"
    assert bodies[("patch", "assets")] == "Asset"
    assert bodies[("put", "streamingLocators")] == "StreamingLocator"
    assert bodies[("put", "streamingPolicies")] == "StreamingPolicy"
    assert bodies[("put", "contentKeyPolicies")] == "ContentKeyPolicy"
    assert bodies[("put", "streamingEndpoints")] == "StreamingEndpoint"
    assert schemas["StreamingEndpointProperties"]["properties"]["scaleUnits"]["anyOf"][0][
        "maximum"] == 10
    token = schemas["ContentKeyPolicyTokenRestriction"]["properties"]
    assert set(token["primaryVerificationKey"]["discriminator"]["mapping"]) == {
        NS + "ContentKeyPolicySymmetricTokenKey", NS + "ContentKeyPolicyRsaTokenKey",
        NS + "ContentKeyPolicyX509CertificateTokenKey"}
    assert "allowPersistentLicense" in schemas["StreamingPolicyFairPlayConfiguration"][
        "required"]
    answers = {path.rsplit("/", 1)[-1]: ops["post"]["responses"]["200"]["content"][
        "application/json"]["schema"].get("$ref", "").rsplit("/", 1)[-1]
        for path, ops in document["paths"].items() if "post" in ops}
    assert answers["listPaths"] == "ListPathsResponse"
    assert answers["listContentKeys"] == "ListContentKeysResponse"
    assert answers["listContainerSas"] == "ListContainerSasResponse"
    assert answers["listStreamingLocators"] == "ListStreamingLocatorsResponse"
    for ref in references(document):
        assert ref.split("/")[-1] in schemas, ref


def test_sdk_account_update(client: AzureMediaServices) -> None:
    updated = client.mediaservices.begin_update(RG, ACC, ams.MediaServiceUpdate(
        tags={"team": "edge"}, public_network_access="Disabled")).result()
    assert updated.tags == {"team": "edge"} and updated.public_network_access == "Disabled"
    got = client.mediaservices.get(RG, ACC)
    assert got.tags == {"team": "edge"} and got.public_network_access == "Disabled"
    assert got.storage_authentication == "ManagedIdentity"  # not sent, kept
    with pytest.raises(HttpResponseError) as info:
        client.mediaservices.begin_update(
            RG, ACC, json.dumps({"tags": {"a": 5}}).encode()).result()
    assert info.value.status_code == 400 and "'tags.a'" in info.value.error.message
    client.mediaservices.begin_update(RG, ACC, ams.MediaServiceUpdate(
        public_network_access="Enabled")).result()


def test_what_a_get_returns_can_be_sent_back(
    client: AzureMediaServices, server: ServerHandle
) -> None:
    """ARM clients PUT/PATCH documents they read; the read-only parts are ignored."""
    from tests.test_resource_models_enc import copy_preset

    client.transforms.create_or_update(RG, ACC, "echo", ams.Transform(
        outputs=[ams.TransformOutput(preset=copy_preset())]))
    client.assets.create_or_update(RG, ACC, "echo-out", ams.Asset())
    client.jobs.create(RG, ACC, "echo", "echo-job", ams.Job(
        input=ams.JobInputAsset(asset_name="in"), outputs=[ams.JobOutputAsset(
            asset_name="echo-out")]))
    client.streaming_policies.create(RG, ACC, "echo-policy", POLICIES["commonEncryptionCbcs"])
    base = server.account_path
    echoes = [("PUT", base, 200), ("PUT", f"{base}/assets/in", 200),
              ("PATCH", f"{base}/assets/in", 200),
              ("PUT", f"{base}/transforms/echo", 200), ("PATCH", f"{base}/transforms/echo", 200),
              ("PATCH", f"{base}/transforms/echo/jobs/echo-job", 200),
              ("PATCH", f"{base}/streamingEndpoints/default", 202),
              ("PUT", f"{base}/contentKeyPolicies/ckp", 200),
              ("PATCH", f"{base}/contentKeyPolicies/ckp", 200)]
    with server.http() as http:
        for method, url, status in echoes:
            document = http.get(url, params={"api-version": "2022-08-01"}).json()
            answer = http.request(method, url, params={"api-version": "2022-08-01"},
                                  json=document)
            assert answer.status_code == status, (method, url, answer.text)
        policy = http.get(f"{base}/streamingPolicies/echo-policy",
                          params={"api-version": "2022-08-01"}).json()
        copy = http.put(f"{base}/streamingPolicies/echo-copy",
                        params={"api-version": "2022-08-01"}, json=policy)
        assert copy.status_code == 201, copy.text
        assert copy.json()["properties"]["commonEncryptionCbcs"] == \
            policy["properties"]["commonEncryptionCbcs"]
