"""Key delivery over real HTTP against ``openvod serve``: open policies, ClearKey licenses,
CORS, and what is never answered (unknown keys, key bytes on refusal)."""

from __future__ import annotations

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
