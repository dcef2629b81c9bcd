"""Helpers of the key delivery tests: policies and locators through the SDK, token makers."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

import httpx
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media import models as ams

from openvod.keydelivery.requests import b64url_encode
from openvod.keys.urls import clearkey_license_url, hls_key_url
from tests.conftest import ACCOUNT, RESOURCE_GROUP

RG, ACC = RESOURCE_GROUP, ACCOUNT
ISSUER = "https://sts.example.com/"
AUDIENCE = "urn:openvod:test"


@dataclass(frozen=True)
class LocatorKey:
    """A content key as listContentKeys gave it."""

    locator: str
    kid: uuid.UUID
    value: bytes


def clear_key_option(restriction: object, name: str = "clearkey") -> ams.ContentKeyPolicyOption:
    """An option delivering keys in clear under ``restriction``."""
    return ams.ContentKeyPolicyOption(
        name=name, configuration=ams.ContentKeyPolicyClearKeyConfiguration(),
        restriction=restriction)


def put_policy(client: AzureMediaServices, name: str, *options: ams.ContentKeyPolicyOption,
               account: str = ACC) -> None:
    """Create or replace a content key policy."""
    client.content_key_policies.create_or_update(
        RG, account, name, ams.ContentKeyPolicy(options=list(options)))


def open_policy(client: AzureMediaServices, name: str, account: str = ACC) -> None:
    """A policy giving its keys to anyone."""
    put_policy(client, name, clear_key_option(ams.ContentKeyPolicyOpenRestriction()),
               account=account)


def publish(client: AzureMediaServices, locator: str, key_policy: str, *,
            streaming_policy: str = "Predefined_ClearKey", account: str = ACC,
            asset: str = "kd-asset") -> LocatorKey:
    """A locator on ``streaming_policy`` whose keys follow ``key_policy``; its first key."""
    client.assets.create_or_update(RG, account, asset, ams.Asset())
    client.streaming_locators.create(RG, account, locator, ams.StreamingLocator(
        asset_name=asset, streaming_policy_name=streaming_policy,
        default_content_key_policy_name=key_policy))
    key = client.streaming_locators.list_content_keys(RG, account, locator).content_keys[0]
    return LocatorKey(locator, uuid.UUID(key.id), base64.b64decode(key.value))


def get_key(base: str, kid: uuid.UUID, token: str | None = None, *,
            header: bool = False) -> httpx.Response:
    """GET the HLS key, the token in the query (default) or an Authorization header."""
    if header and token:
        return httpx.get(hls_key_url(base, kid, None), timeout=30,
                         headers={"Authorization": f"Bearer {token}"})
    return httpx.get(hls_key_url(base, kid, token), timeout=30)


def post_license(base: str, kids: list[uuid.UUID], token: str | None = None) -> httpx.Response:
    """POST an EME ClearKey license request, the token as a Bearer header."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"kids": [b64url_encode(k.bytes) for k in kids], "type": "temporary"}
    return httpx.post(clearkey_license_url(base, None), json=body, headers=headers, timeout=30)
