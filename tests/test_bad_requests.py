"""Issue 11 finding 3 and 10 over real HTTP: wrong types, hostile JSON and non-UTF-8 names
answer an ARM 400 naming the field; a failed create leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerHandle

V = {"api-version": "2022-08-01"}
NS = "#Microsoft.Media."
COPY_PRESET = {"@odata.type": NS + "StandardEncoderPreset",
               "codecs": [{"@odata.type": NS + "CopyVideo"}, {"@odata.type": NS + "CopyAudio"}],
               "formats": [{"@odata.type": NS + "Mp4Format",
                            "filenamePattern": "{Basename}{Extension}"}]}


@pytest.fixture(scope="module")
def http(server: ServerHandle) -> Iterator[httpx.Client]:
    with server.http() as client:
        put = client.put(server.account_path, params=V, json={"location": "local"})
        assert put.status_code in (200, 201), put.text
        for name in ("in", "out"):
            assert client.put(f"{server.account_path}/assets/{name}", params=V,
                              json={}).status_code in (200, 201)
        transform = {"properties": {"outputs": [{"preset": COPY_PRESET}]}}
        assert client.put(f"{server.account_path}/transforms/copy", params=V,
                          json=transform).status_code in (200, 201)
        yield client


def assert_arm_400(response: httpx.Response, where: str) -> dict[str, Any]:
    """A 400 with an ARM error body whose message contains ``where``."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] in ("BadRequest", "InvalidInput"), error
    assert where in error["message"], error["message"]
    return dict(error)


def job(**props: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"input": {"@odata.type": NS + "JobInputAsset", "assetName": "in"},
                            "outputs": [{"@odata.type": NS + "JobOutputAsset",
                                         "assetName": "out"}]}
    return {"properties": {**base, **props}}


def locator(**props: Any) -> dict[str, Any]:
    return {"properties": {"assetName": "in", "streamingPolicyName":
                           "Predefined_ClearStreamingOnly", **props}}


# --- wrong types --------------------------------------------------------------------------


def test_account_tags_as_a_string(http: httpx.Client, server: ServerHandle) -> None:
    response = http.put(server.account_path, params=V, json={"location": "local", "tags": "ab"})
    assert_arm_400(response, "'tags'")


def test_asset_patch_properties_as_a_number(http: httpx.Client, server: ServerHandle) -> None:
    response = http.patch(f"{server.account_path}/assets/in", params=V, json={"properties": 5})
    assert_arm_400(response, "'properties'")


@pytest.mark.parametrize(("props", "where"), [
    ({"priority": ["High"]}, "'properties.priority'"),
    ({"input": {"@odata.type": NS + "JobInputHttp", "baseUri": 5}}, "'properties.input.baseUri'"),
    ({"outputs": [{"@odata.type": NS + "JobOutputAsset", "assetName": "out",
                   "presetOverride": "x"}]}, "'properties.outputs[0].presetOverride'"),
], ids=["priority-list", "baseUri-number", "presetOverride-string"])
def test_job_fields_of_the_wrong_type(
    http: httpx.Client, server: ServerHandle, props: dict[str, Any], where: str
) -> None:
    response = http.put(f"{server.account_path}/transforms/copy/jobs/bad", params=V,
                        json=job(**props))
    assert_arm_400(response, where)
    missing = http.get(f"{server.account_path}/transforms/copy/jobs/bad", params=V)
    assert missing.status_code == 404


@pytest.mark.parametrize(("props", "where"), [
    ({"contentKeys": 5}, "'properties.contentKeys'"),
    ({"startTime": 5}, "'properties.startTime'"),
    ({"contentKeys": [{"id": 5}]}, "'properties.contentKeys[0].id'"),
    ({"endTime": "tomorrow"}, "'properties.endTime'"),
    ({"startTime": "0001-01-01T00:00:00+01:00"}, "'properties.startTime' is out of the range"),
    ({"endTime": "9999-12-31T23:59:59-01:00"}, "'properties.endTime' is out of the range"),
    ({"filters": "f"}, "'properties.filters'"),
    ({"alternativeMediaId": {"a": 1}}, "'properties.alternativeMediaId'"),
], ids=["contentKeys-number", "startTime-number", "key-id-number", "endTime-text",
        "startTime-before-utc", "endTime-after-utc",
        "filters-string", "alternativeMediaId-object"])
def test_locator_fields_of_the_wrong_type(
    http: httpx.Client, server: ServerHandle, props: dict[str, Any], where: str
) -> None:
    response = http.put(f"{server.account_path}/streamingLocators/bad", params=V,
                        json=locator(**props))
    assert_arm_400(response, where)
    assert http.get(f"{server.account_path}/streamingLocators/bad", params=V).status_code == 404


def test_endpoint_custom_host_names_as_a_number(http: httpx.Client, server: ServerHandle) -> None:
    response = http.put(f"{server.account_path}/streamingEndpoints/bad", params=V,
                        json={"location": "local", "properties": {"customHostNames": 5}})
    assert_arm_400(response, "'properties.customHostNames'")


def test_huge_scale_units_are_refused(http: httpx.Client, server: ServerHandle) -> None:
    response = http.put(f"{server.account_path}/streamingEndpoints/big", params=V,
                        json={"location": "local", "properties": {"scaleUnits": 10**30}})
    assert_arm_400(response, "'properties.scaleUnits'")
    response = http.post(f"{server.account_path}/streamingEndpoints/default/scale", params=V,
                         json={"scaleUnit": 10**30})
    assert_arm_400(response, "'scaleUnit'")
    units = http.get(f"{server.account_path}/streamingEndpoints/default", params=V).json()
    assert units["properties"]["scaleUnits"] == 0


# --- hostile JSON -------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"properties": {"description": NaN}}', "'NaN' is not a JSON number"),
    (b'{"properties": {"description": Infinity}}', "'Infinity' is not a JSON number"),
    (b'{"properties": {"description": 1e400}}', "out of range"),
    (b'{"properties": {"description": ' + b"9" * 5000 + b"}}", "more than 40 digits"),
    (b"[" * 100_000, "nests deeper than 64 levels"),
    (b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}", "nests deeper than 64 levels"),
    (b'{"properties": {"description": "\xff"}}', "not valid JSON"),
    (b'{"properties": {"description": "\\ud800"}}', "unpaired surrogate"),
    (b'{"tags": {"\\udfff": "x"}}', "unpaired surrogate"),
    (b'{"properties": {"description": "a\\u0000b"}}', "or NUL"),
], ids=["nan", "infinity", "1e400", "5000-digits", "100k-brackets", "depth-101", "bad-utf8",
        "surrogate-value", "surrogate-key", "nul"])
def test_hostile_json_is_a_400(
    http: httpx.Client, server: ServerHandle, body: bytes, reason: str
) -> None:
    for method, path in (("PUT", "/assets/hostile"), ("PATCH", "/assets/in"),
                         ("PUT", "/transforms/copy/jobs/hostile")):
        response = http.request(method, server.account_path + path, params=V, content=body,
                                headers={"Content-Type": "application/json"})
        assert_arm_400(response, reason)
    assert http.get(f"{server.account_path}/assets/hostile", params=V).status_code == 404


def test_patch_description_1e400_does_not_store_infinity(
    http: httpx.Client, server: ServerHandle
) -> None:
    url = f"{server.account_path}/assets/in"
    assert http.patch(url, params=V, json={"properties": {"description": "kept"}}).status_code \
        == 200
    response = http.patch(url, params=V, content=b'{"properties": {"description": 1e400}}',
                          headers={"Content-Type": "application/json"})
    assert_arm_400(response, "out of range")
    response = http.patch(url, params=V, json={"properties": {"description": 1.5}})
    assert_arm_400(response, "'properties.description'")
    assert http.get(url, params=V).json()["properties"]["description"] == "kept"


# --- nothing left behind ------------------------------------------------------------------


def stored_paths(server: ServerHandle) -> set[Path]:
    root = server.ctx.settings.resolved_data_dir / "blobs"
    return {p for p in root.rglob("*") if "tmp" not in p.parts}


def test_a_failed_asset_put_creates_no_container(
    http: httpx.Client, server: ServerHandle
) -> None:
    before = stored_paths(server)
    for body in ({"properties": {"container": "left-behind", "description": ["x"]}},
                 {"properties": {"container": "left-behind", "storageAccountName": "other"}},
                 {"properties": {"container": "Bad_Name"}},
                 {"properties": {"container": "left-behind", "storageEncryptionFormat": "x"}}):
        response = http.put(f"{server.account_path}/assets/failed", params=V, json=body)
        assert response.status_code == 400, response.text
    response = http.put(f"{server.account_path}/assets/failed", params=V,
                        content=b'{"properties": {"container": "left-behind", "alternateId": '
                                b'1e400}}', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert not server.ctx.store.container_exists("left-behind")
    assert stored_paths(server) == before
    assert http.get(f"{server.account_path}/assets/failed", params=V).status_code == 404


def test_a_container_that_cannot_be_made_leaves_no_asset(
    http: httpx.Client, server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(container: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(server.ctx.store, "create_container", broken)
    response = http.put(f"{server.account_path}/assets/nodisk", params=V,
                        json={"properties": {"container": "no-disk"}})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "StorageError"
    monkeypatch.undo()
    assert http.get(f"{server.account_path}/assets/nodisk", params=V).status_code == 404
    created = http.put(f"{server.account_path}/assets/nodisk", params=V,
                       json={"properties": {"container": "no-disk"}})
    assert created.status_code == 201 and server.ctx.store.container_exists("no-disk")


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw_name", "reason"), [
    ("x%FF", "UTF-8"), ("x%FE", "UTF-8"), ("x%C3", "UTF-8"), ("x%ED%A0%80", "UTF-8"),
    ("%C0%AF", "UTF-8"), ("x%00", "control characters"), ("x%1F", "control characters"),
])
def test_a_name_that_is_not_utf8_text_is_a_400(
    http: httpx.Client, server: ServerHandle, raw_name: str, reason: str
) -> None:
    url = f"{server.base_url}{server.account_path}/assets/{raw_name}?api-version=2022-08-01"
    response = http.put(httpx.URL(url), json={})
    error = assert_arm_400(response, reason)
    assert error["code"] == "BadRequest"
    assert http.get(httpx.URL(url)).status_code == 400


def test_distinct_bytes_are_distinct_names(http: httpx.Client, server: ServerHandle) -> None:
    base = f"{server.base_url}{server.account_path}/assets/"
    for raw_name in ("y%C3%A9", "y%C3%A8"):  # yé and yè
        created = http.put(httpx.URL(base + raw_name + "?api-version=2022-08-01"), json={})
        assert created.status_code == 201, created.text
    names = {a["name"] for a in http.get(f"{server.account_path}/assets", params=V).json()["value"]}
    assert {"yé", "yè"} <= names


def test_deletes_remove_files_after_the_rows(http: httpx.Client, server: ServerHandle) -> None:
    other = server.account_path.replace("/mediaservices/testaccount", "/mediaservices/goner")
    assert http.put(other, params=V, json={"location": "local"}).status_code == 201
    for name, container in (("kept", "goner-kept"), ("dropped", "goner-dropped")):
        put = http.put(f"{other}/assets/{name}", params=V,
                       json={"properties": {"container": container}})
        assert put.status_code == 201
        server.ctx.store.put_blob(container, "movie.mp4", b"bytes")
    assert http.delete(f"{other}/assets/dropped", params=V).status_code == 200
    assert not server.ctx.store.container_exists("goner-dropped")
    assert http.delete(f"{other}/assets/dropped", params=V).status_code == 204
    assert server.ctx.store.container_exists("goner-kept")
    assert http.delete(other, params=V).status_code == 200
    assert not server.ctx.store.container_exists("goner-kept")
    assert http.get(other, params=V).status_code == 404
