"""The management API driven by the official azure-mgmt-media SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.pipeline.policies import HeadersPolicy
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import (
    Asset,
    BuiltInStandardEncoderPreset,
    EnabledProtocols,
    ListContainerSasInput,
    MediaService,
    NoEncryption,
    StreamingEndpoint,
    StreamingLocator,
    StreamingPolicy,
    Transform,
    TransformOutput,
)

from openvod.client.sdk import StaticTokenCredential
from openvod.clock import utcnow
from tests.conftest import ACCOUNT, RESOURCE_GROUP, SUBSCRIPTION, ServerHandle

RG, ACC = RESOURCE_GROUP, ACCOUNT


def sdk_client(server: ServerHandle, token: str | None = None) -> AzureMediaServices:
    """The SDK over plain http: the one-line authentication_policy option from the README."""
    bearer = token or server.token
    return AzureMediaServices(
        StaticTokenCredential(bearer), SUBSCRIPTION, base_url=server.base_url,
        authentication_policy=HeadersPolicy({"Authorization": f"Bearer {bearer}"}),
        polling_interval=0,
    )


@pytest.fixture(scope="module")
def ams(server: ServerHandle) -> Iterator[AzureMediaServices]:
    client = sdk_client(server)
    client.mediaservices.begin_create_or_update(
        RG, ACC, MediaService(location="local")
    ).result()
    yield client


def test_account_round_trip(ams: AzureMediaServices) -> None:
    account = ams.mediaservices.get(RG, ACC)
    assert account.name == ACC
    assert account.media_service_id
    assert account.system_data.created_at is not None
    assert [a.name for a in ams.mediaservices.list(RG)] == [ACC]
    assert ACC in [a.name for a in ams.mediaservices.list_by_subscription()]


def test_asset_crud_and_sas(ams: AzureMediaServices) -> None:
    created = ams.assets.create_or_update(RG, ACC, "in1", Asset(description="mezzanine"))
    assert created.asset_id and created.container == f"asset-{created.asset_id}"
    assert created.storage_account_name == "openvod"
    got = ams.assets.get(RG, ACC, "IN1")  # names are case-insensitive
    assert got.asset_id == created.asset_id
    ams.assets.update(RG, ACC, "in1", Asset(description="changed"))
    assert ams.assets.get(RG, ACC, "in1").description == "changed"
    assert "in1" in [a.name for a in ams.assets.list(RG, ACC)]
    sas = ams.assets.list_container_sas(
        RG, ACC, "in1",
        ListContainerSasInput(permissions="ReadWrite", expiry_time=utcnow() + timedelta(hours=1)),
    )
    url = sas.asset_container_sas_urls[0]
    assert f"/{created.container}?" in url and "sig=" in url and "sp=" in url
    ams.assets.delete(RG, ACC, "in1")
    with pytest.raises(ResourceNotFoundError):
        ams.assets.get(RG, ACC, "in1")


def test_sas_expiry_must_be_future(ams: AzureMediaServices) -> None:
    ams.assets.create_or_update(RG, ACC, "sas-past", Asset())
    with pytest.raises(HttpResponseError) as info:
        ams.assets.list_container_sas(
            RG, ACC, "sas-past",
            ListContainerSasInput(permissions="Read", expiry_time=utcnow() - timedelta(hours=1)),
        )
    assert info.value.status_code == 400


def builtin(name: str) -> Transform:
    return Transform(outputs=[TransformOutput(preset=BuiltInStandardEncoderPreset(
        preset_name=name))])


def test_transform_crud(ams: AzureMediaServices) -> None:
    t = ams.transforms.create_or_update(RG, ACC, "adaptive", builtin("AdaptiveStreaming"))
    assert t.outputs[0].preset.preset_name == "AdaptiveStreaming"
    assert t.outputs[0].on_error == "StopProcessingJob"
    assert ams.transforms.get(RG, ACC, "adaptive").created is not None
    ams.transforms.delete(RG, ACC, "adaptive")
    assert "adaptive" not in [x.name for x in ams.transforms.list(RG, ACC)]


def test_unknown_preset_is_rejected(ams: AzureMediaServices) -> None:
    with pytest.raises(HttpResponseError) as info:
        ams.transforms.create_or_update(RG, ACC, "bad", builtin("NoSuchPreset"))
    assert info.value.status_code == 400
    assert info.value.error.code == "BadRequest"
    assert "NoSuchPreset" in info.value.error.message


def test_streaming_policies(ams: AzureMediaServices) -> None:
    names = {p.name for p in ams.streaming_policies.list(RG, ACC)}
    assert {
        "Predefined_DownloadOnly", "Predefined_ClearStreamingOnly",
        "Predefined_DownloadAndClearStreaming", "Predefined_ClearKey",
        "Predefined_MultiDrmCencStreaming", "Predefined_MultiDrmStreaming",
    } <= names
    clear = ams.streaming_policies.get(RG, ACC, "Predefined_ClearStreamingOnly")
    assert clear.no_encryption.enabled_protocols.hls is True
    assert clear.no_encryption.enabled_protocols.download is False
    custom = StreamingPolicy(no_encryption=NoEncryption(enabled_protocols=EnabledProtocols(
        download=False, dash=True, hls=True, smooth_streaming=False)))
    ams.streaming_policies.create(RG, ACC, "hls-dash", custom)
    got = ams.streaming_policies.get(RG, ACC, "hls-dash")
    assert got.no_encryption.enabled_protocols.smooth_streaming is False
    empty = StreamingPolicy(no_encryption=NoEncryption(enabled_protocols=EnabledProtocols(
        download=False, dash=False, hls=False, smooth_streaming=False)))
    with pytest.raises(HttpResponseError) as info:
        ams.streaming_policies.create(RG, ACC, "nothing", empty)
    assert info.value.status_code == 400
    ams.streaming_policies.delete(RG, ACC, "hls-dash")


def test_locators(ams: AzureMediaServices) -> None:
    ams.assets.create_or_update(RG, ACC, "pub", Asset())
    loc = ams.streaming_locators.create(RG, ACC, "loc1", StreamingLocator(
        asset_name="pub", streaming_policy_name="Predefined_ClearStreamingOnly"))
    assert loc.streaming_locator_id
    assert ams.streaming_locators.list_content_keys(RG, ACC, "loc1").content_keys == []
    paths = ams.streaming_locators.list_paths(RG, ACC, "loc1")
    assert paths.streaming_paths == [] and paths.download_paths == []  # nothing encoded yet
    listed = ams.assets.list_streaming_locators(RG, ACC, "pub").streaming_locators
    assert [x.name for x in listed] == ["loc1"]
    keyed = ams.streaming_locators.create(RG, ACC, "loc2", StreamingLocator(
        asset_name="pub", streaming_policy_name="Predefined_ClearKey"))
    keys = ams.streaming_locators.list_content_keys(RG, ACC, "loc2").content_keys
    assert len(keys) == 1 and keys[0].type == "EnvelopeEncryption" and keys[0].value
    assert keyed.content_keys[0].value is None  # values only through listContentKeys
    with pytest.raises(HttpResponseError) as info:
        ams.streaming_locators.create(RG, ACC, "loc3", StreamingLocator(
            asset_name="missing", streaming_policy_name="Predefined_ClearStreamingOnly"))
    assert info.value.status_code == 404
    ams.streaming_locators.delete(RG, ACC, "loc1")
    assert "loc1" not in [x.name for x in ams.streaming_locators.list(RG, ACC)]


def test_streaming_endpoints_lro(ams: AzureMediaServices, server: ServerHandle) -> None:
    default = ams.streaming_endpoints.get(RG, ACC, "default")
    assert default.resource_state == "Stopped"
    assert default.host_name == server.base_url.split("://")[1]
    ams.streaming_endpoints.begin_start(RG, ACC, "default").result()
    assert ams.streaming_endpoints.get(RG, ACC, "default").resource_state == "Running"
    ams.streaming_endpoints.begin_scale(RG, ACC, "default", {"scaleUnit": 2}).result()
    assert ams.streaming_endpoints.get(RG, ACC, "default").scale_units == 2
    ams.streaming_endpoints.begin_stop(RG, ACC, "default").result()
    assert ams.streaming_endpoints.get(RG, ACC, "default").resource_state == "Stopped"
    se = ams.streaming_endpoints.begin_create(
        RG, ACC, "second", StreamingEndpoint(location="local", scale_units=0), auto_start=True
    ).result()
    assert se.resource_state == "Running"
    ams.streaming_endpoints.begin_stop(RG, ACC, "second").result()
    ams.streaming_endpoints.begin_delete(RG, ACC, "second").result()
    assert [e.name for e in ams.streaming_endpoints.list(RG, ACC)] == ["default"]


def test_missing_and_invalid_token(server: ServerHandle, ams: AzureMediaServices) -> None:
    url = server.base_url + server.account_path + "/assets?api-version=2022-08-01"
    response = httpx.get(url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"
    response = httpx.get(url, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    with pytest.raises(HttpResponseError) as info:
        sdk_client(server, token="wrong").assets.list(RG, ACC).next()
    assert info.value.status_code == 401


def test_malformed_json(server: ServerHandle, ams: AzureMediaServices) -> None:
    with server.http() as http:
        response = http.put(server.account_path + "/assets/x?api-version=2022-08-01",
                            content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "BadRequest" and "JSON" in body["error"]["message"]


@pytest.mark.parametrize("name", ["..", "a%2Fb", "a..b", "bad<name"])
def test_bad_asset_names(server: ServerHandle, ams: AzureMediaServices, name: str) -> None:
    # http.client sends the path as given (httpx would resolve '..' before sending).
    host, port = server.base_url.split("://")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("PUT", server.account_path + f"/assets/{name}?api-version=2022-08-01",
                 body=b'{"properties": {}}',
                 headers={"Authorization": f"Bearer {server.token}",
                          "Content-Type": "application/json"})
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 400, body
    assert body["error"]["code"] == "BadRequest"


def test_unknown_account_is_404(server: ServerHandle, ams: AzureMediaServices) -> None:
    with pytest.raises(ResourceNotFoundError):
        ams.assets.list(RG, "nosuchaccount").next()


def test_case_insensitive_paths(server: ServerHandle, ams: AzureMediaServices) -> None:
    path = server.account_path.replace("mediaservices", "mediaServices").replace(
        "resourceGroups", "resourcegroups")
    with server.http() as http:
        response = http.get(path + "/streamingEndpoints/default?api-version=2022-08-01")
    assert response.status_code == 200
