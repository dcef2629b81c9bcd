"""Key delivery over real HTTP against ``openvod serve``: open policies, ClearKey licenses,
CORS, and what is never answered (unknown keys, key bytes on refusal)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import httpx
import pytest
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media import models as ams

from openvod.keydelivery.requests import b64url_decode
from openvod.keys.urls import clearkey_license_url
from tests.conftest import ServerHandle
from tests.key_delivery_support import (
    ACC,
    RG,
    LocatorKey,
    get_key,
    open_policy,
    post_license,
    publish,
)
from tests.origin_support import start_origin, stop_process
from tests.test_api_sdk import sdk_client


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Iterator[AzureMediaServices]:
    sdk = sdk_client(server)
    sdk.mediaservices.begin_create_or_update(RG, ACC, ams.MediaService(location="local")).result()
    open_policy(sdk, "open")
    yield sdk


@pytest.fixture(scope="module")
def open_key(client: AzureMediaServices) -> LocatorKey:
    return publish(client, "open-loc", "open")


def test_open_policy_gives_the_hls_key(server: ServerHandle, open_key: LocatorKey) -> None:
    got = get_key(server.base_url, open_key.kid)
    assert got.status_code == 200
    assert got.content == open_key.value and len(got.content) == 16
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["cache-control"] == "no-store"
    assert got.headers["access-control-allow-origin"] == "*"


def test_listed_keys_are_the_locators_keys(client: AzureMediaServices,
                                           open_key: LocatorKey) -> None:
    listed = client.streaming_locators.list_content_keys(RG, ACC, "open-loc").content_keys
    assert [(k.id, k.type, k.policy_name) for k in listed] == [
        (str(open_key.kid), "EnvelopeEncryption", "open")]
    got = client.streaming_locators.get(RG, ACC, "open-loc")
    assert got.content_keys[0].value is None  # values only through listContentKeys


def test_clearkey_license_for_an_open_key(server: ServerHandle, open_key: LocatorKey) -> None:
    unknown = uuid.uuid4()
    got = post_license(server.base_url, [open_key.kid, unknown])
    assert got.status_code == 200
    document = got.json()
    assert document["type"] == "temporary"
    assert len(document["keys"]) == 1  # the unknown key is left out
    jwk = document["keys"][0]
    assert jwk["kty"] == "oct"
    assert b64url_decode(jwk["kid"]) == open_key.kid.bytes
    assert b64url_decode(jwk["k"]) == open_key.value
    assert "=" not in jwk["k"] + jwk["kid"]


def test_unknown_key_is_404(server: ServerHandle) -> None:
    got = get_key(server.base_url, uuid.uuid4())
    assert got.status_code == 404
    assert post_license(server.base_url, [uuid.uuid4()]).status_code == 404


def test_malformed_requests(server: ServerHandle) -> None:
    base = server.base_url
    assert httpx.get(base + "/keydelivery/hls/not-a-guid", timeout=30).status_code == 400
    url = clearkey_license_url(base, None)
    assert httpx.post(url, content=b"{", timeout=30).status_code == 400
    assert httpx.post(url, json={"kids": ["AAAA"]}, timeout=30).status_code == 400
    assert httpx.post(url, json={"kids": []}, timeout=30).status_code == 400
    assert httpx.get(url, timeout=30).status_code == 405


def test_cors_preflight(server: ServerHandle) -> None:
    got = httpx.options(clearkey_license_url(server.base_url, None), timeout=30, headers={
        "Origin": "https://player.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert got.status_code == 204
    assert got.headers["access-control-allow-origin"] == "*"
    assert "POST" in got.headers["access-control-allow-methods"]
    assert "authorization" in got.headers["access-control-allow-headers"].lower()


def test_policy_changes_take_effect_at_once(server: ServerHandle, client: AzureMediaServices,
                                            ) -> None:
    open_policy(client, "switch")
    key = publish(client, "switch-loc", "switch")
    assert get_key(server.base_url, key.kid).status_code == 200
    client.content_key_policies.create_or_update(RG, ACC, "switch", ams.ContentKeyPolicy(
        options=[ams.ContentKeyPolicyOption(
            configuration=ams.ContentKeyPolicyWidevineConfiguration(widevine_template="{}"),
            restriction=ams.ContentKeyPolicyOpenRestriction())]))
    refused = get_key(server.base_url, key.kid)
    assert refused.status_code == 403 and key.value not in refused.content


def test_predefined_encrypting_policies(client: AzureMediaServices) -> None:
    envelope = client.streaming_policies.get(RG, ACC, "Predefined_ClearKey").envelope_encryption
    assert envelope.enabled_protocols.as_dict() == {
        "download": False, "dash": True, "hls": True, "smooth_streaming": True}
    cenc_only = client.streaming_policies.get(RG, ACC, "Predefined_MultiDrmCencStreaming")
    assert cenc_only.common_encryption_cbcs is None
    assert cenc_only.common_encryption_cenc.drm.play_ready is not None
    multi = client.streaming_policies.get(RG, ACC, "Predefined_MultiDrmStreaming")
    assert multi.common_encryption_cenc.enabled_protocols.as_dict() == {
        "download": False, "dash": True, "hls": False, "smooth_streaming": True}
    assert multi.common_encryption_cbcs.enabled_protocols.as_dict() == {
        "download": False, "dash": False, "hls": True, "smooth_streaming": False}
    assert multi.common_encryption_cbcs.drm.fair_play is not None
    publish(client, "multi-loc", "open", streaming_policy="Predefined_MultiDrmStreaming")
    keys = client.streaming_locators.list_content_keys(RG, ACC, "multi-loc").content_keys
    assert sorted(k.type for k in keys) == ["CommonEncryptionCbcs", "CommonEncryptionCenc"]
    assert {k.policy_name for k in keys} == {"open"} and len({k.id for k in keys}) == 2


def test_key_policy_from_the_streaming_policys_default_key(
    server: ServerHandle, client: AzureMediaServices,
) -> None:
    open_policy(client, "scheme-default")
    client.streaming_policies.create(RG, ACC, "envelope-custom", ams.StreamingPolicy(
        envelope_encryption=ams.EnvelopeEncryption(
            enabled_protocols=ams.EnabledProtocols(download=False, dash=False, hls=True,
                                                   smooth_streaming=False),
            content_keys=ams.StreamingPolicyContentKeys(default_key=ams.DefaultKey(
                label="main", policy_name="scheme-default")))))
    client.streaming_locators.create(RG, ACC, "custom-loc", ams.StreamingLocator(
        asset_name="kd-asset", streaming_policy_name="envelope-custom"))
    keys = client.streaming_locators.list_content_keys(RG, ACC, "custom-loc").content_keys
    assert [(k.label_reference_in_streaming_policy, k.policy_name) for k in keys] == [
        ("main", "scheme-default")]
    got = get_key(server.base_url, uuid.UUID(keys[0].id))
    assert got.status_code == 200 and base64.b64decode(keys[0].value) == got.content


def test_given_content_keys_are_used_and_validated(server: ServerHandle,
                                                   client: AzureMediaServices) -> None:
    kid, value = uuid.uuid4(), bytes(range(100, 116))
    client.streaming_locators.create(RG, ACC, "given-loc", ams.StreamingLocator(
        asset_name="kd-asset", streaming_policy_name="Predefined_ClearKey",
        default_content_key_policy_name="open",
        content_keys=[ams.StreamingLocatorContentKey(
            id=str(kid), value=base64.b64encode(value).decode())]))
    assert get_key(server.base_url, kid).content == value
    for bad in ({"id": "not-a-guid", "value": base64.b64encode(value).decode()},
                {"id": str(uuid.uuid4()), "value": base64.b64encode(b"short").decode()},
                {"id": str(uuid.uuid4()), "value": "***"}):
        got = httpx.put(
            f"{server.base_url}{server.account_path}/streamingLocators/bad-given"
            "?api-version=2022-08-01", timeout=30,
            headers={"Authorization": f"Bearer {server.token}"},
            json={"properties": {"assetName": "kd-asset",
                                 "streamingPolicyName": "Predefined_ClearKey",
                                 "contentKeys": [bad]}})
        assert got.status_code == 400, got.text


def test_openvod_origin_delivers_keys(server: ServerHandle, open_key: LocatorKey,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if server.ctx.settings.database_url:  # the origin shares the server's database
        monkeypatch.setenv("OPENVOD_DATABASE_URL", server.ctx.settings.database_url)
    proc, url = start_origin(server, 1, None)
    try:
        got = get_key(url, open_key.kid)
        assert got.status_code == 200 and got.content == open_key.value
        license_ = post_license(url, [open_key.kid])
        assert b64url_decode(license_.json()["keys"][0]["k"]) == open_key.value
        assert get_key(url, uuid.uuid4()).status_code == 404
    finally:
        stop_process(proc)


def test_deleted_locator_takes_its_key_along(server: ServerHandle,
                                             client: AzureMediaServices) -> None:
    key = publish(client, "doomed-loc", "open")
    assert get_key(server.base_url, key.kid).status_code == 200
    client.streaming_locators.delete(RG, ACC, "doomed-loc")
    gone = get_key(server.base_url, key.kid)
    assert gone.status_code == 404 and key.value not in gone.content
