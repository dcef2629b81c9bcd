"""Random JSON, and random values in each known field, PUT/PATCH/POSTed to every management
route of a real server: never a 500, always an ARM-shaped answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openvod.clock import iso, utcnow
from tests.conftest import ACCOUNT, RESOURCE_GROUP, SUBSCRIPTION, ServerHandle, start_server
from tests.sdk_samples import (
    CONFIGURATIONS,
    POLICIES,
    TOKEN_KEYS,
    every_account,
    every_endpoint,
    every_locator,
    key_policy,
    token_restriction,
)
from tests.test_resource_models_enc import (
    copy_preset,
    every_job,
    every_transform,
    leaf_paths,
    replaced,
    sdk_json,
)

V = {"api-version": "2022-08-01"}
NAMES = {"subscription_id": SUBSCRIPTION, "resource_group": RESOURCE_GROUP,
         "account_name": ACCOUNT, "transform": "copy", "name": "fuzz", "asset": "fuzz",
         "track": "fuzz"}
EXAMPLES = 40


def _seed(kind: str) -> dict[str, Any]:
    """A valid body for each kind of route, whose fields the field test replaces."""
    locator = every_locator()
    locator.streaming_policy_name = "Predefined_ClearStreamingOnly"
    locator.content_keys = None
    job = every_job()
    job.outputs = job.outputs[1:2]  # the 'copy' transform has one output; this one overrides it
    return {
        "account": sdk_json(every_account(), "MediaService"),
        "asset": {"properties": {"description": "d", "alternateId": "a"}},
        "sas": {"permissions": "Read", "expiryTime": iso(utcnow() + timedelta(hours=1))},
        "transform": sdk_json(every_transform(), "Transform"),
        "job": sdk_json(job, "Job"),
        "policy": sdk_json(POLICIES["commonEncryptionCenc"], "StreamingPolicy"),
        "locator": sdk_json(locator, "StreamingLocator"),
        "endpoint": sdk_json(every_endpoint(), "StreamingEndpoint"),
        "scale": {"scaleUnit": 1},
        "track": {"properties": {"track": {
            "@odata.type": "#Microsoft.Media.TextTrack", "fileName": "fuzz.vtt",
            "displayName": "Fuzz", "playerVisibility": "Visible",
            "hlsSettings": {"default": True, "forced": False, "characteristics": "c"}}}},
        "keypolicy": sdk_json(key_policy(CONFIGURATIONS["PlayReady"],
                                         token_restriction(TOKEN_KEYS["x509"])),
                              "ContentKeyPolicy"),
        "filter": {"properties": {
            "presentationTimeRange": {"startTimestamp": 0, "endTimestamp": 100_000_000,
                                      "timescale": 10_000_000, "forceEndTimestamp": False},
            "firstQuality": {"bitrate": 1_000_000},
            "tracks": [{"trackSelections": [
                {"property": "Type", "operation": "Equal", "value": "video"},
                {"property": "Bitrate", "operation": "Equal", "value": "0-2000000"}]}]}},
        "none": {},
    }[kind]


# (method, path suffix pattern) -> seed kind; every PUT/PATCH/POST route must be listed.
SEEDS = [
    ("PUT", r"/mediaservices/\{account_name\}$", "account"),
    ("PATCH", r"/mediaservices/\{account_name\}$", "account"),
    ("PUT", r"/assets/\{name\}$", "asset"),
    ("PATCH", r"/assets/\{name\}$", "asset"),
    ("POST", r"/assets/\{name\}/listContainerSas$", "sas"),
    ("POST", r"/assets/\{name\}/listStreamingLocators$", "none"),
    ("POST", r"/assets/\{name\}/getEncryptionKey$", "none"),
    ("PUT", r"/transforms/\{name\}$", "transform"),
    ("PATCH", r"/transforms/\{name\}$", "transform"),
    ("PUT", r"/jobs/\{name\}$", "job"),
    ("PATCH", r"/jobs/\{name\}$", "job"),
    ("POST", r"/jobs/\{name\}/cancelJob$", "none"),
    ("PUT", r"/streamingPolicies/\{name\}$", "policy"),
    ("PUT", r"/streamingLocators/\{name\}$", "locator"),
    ("POST", r"/streamingLocators/\{name\}/list(Paths|ContentKeys)$", "none"),
    ("PUT", r"/streamingEndpoints/\{name\}$", "endpoint"),
    ("PATCH", r"/streamingEndpoints/\{name\}$", "endpoint"),
    ("POST", r"/streamingEndpoints/\{name\}/(start|stop)$", "none"),
    ("POST", r"/streamingEndpoints/\{name\}/scale$", "scale"),
    ("PUT", r"/contentKeyPolicies/\{name\}$", "keypolicy"),
    ("PATCH", r"/contentKeyPolicies/\{name\}$", "keypolicy"),
    ("POST", r"/contentKeyPolicies/\{name\}/getPolicyPropertiesWithSecrets$", "none"),
    ("PUT", r"/tracks/\{track\}$", "track"),
    ("PATCH", r"/tracks/\{track\}$", "track"),
    ("POST", r"/tracks/\{track\}/updateTrackData$", "none"),
    ("PUT", r"/(account|asset)Filters/\{name\}$", "filter"),
    ("PATCH", r"/(account|asset)Filters/\{name\}$", "filter"),
]


def _routes() -> list[tuple[str, str]]:
    """(method, path template) of every management route that takes a body."""
    from openvod.api.app import create_api_app

    app = create_api_app(None)  # type: ignore[arg-type]  # routes only; no request is served
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            if method.upper() in ("PUT", "PATCH", "POST") and path.startswith("/subscriptions"):
                found.append((method.upper(), path))
    return sorted(found)


ROUTES = _routes()


def seed_kind(method: str, path: str) -> str:
    for seed_method, pattern, kind in SEEDS:
        if seed_method == method and re.search(pattern, path):
            return kind
    raise AssertionError(f"no seed body for {method} {path}: add it to SEEDS")


def test_every_route_has_a_seed() -> None:
    assert len(ROUTES) >= 21
    for method, path in ROUTES:
        seed_kind(method, path)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """A server without a worker (random jobs are stored, never run)."""
    handle = start_server(Path(tmp_path_factory.mktemp("fuzz")), None, run_worker=False,
                          http_input_allowed_hosts=["media.example"])
    with handle.http() as http:
        base = handle.account_path
        assert http.put(base, params=V, json={"location": "local"}).status_code == 201
        for name in ("in", "out", "out2", "out3", "fuzz"):
            created = http.put(f"{base}/assets/{name}", params=V, json={})
            assert created.status_code == 201
        handle.ctx.store.put_blob(created.json()["properties"]["container"], "fuzz.vtt",
                                  b"WEBVTT\n\n00:00.000 --> 00:01.000\nfuzz\n")
        transform = {"properties": {"outputs": [{"preset": sdk_json(copy_preset(),
                                                                    "StandardEncoderPreset")}]}}
        assert http.put(f"{base}/transforms/copy", params=V, json=transform).status_code == 201
        assert http.put(f"{base}/contentKeyPolicies/ckp", params=V,
                        json=_seed("keypolicy")).status_code == 201
    yield handle
    handle.server.stop()


JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
                | st.sampled_from(["\ud800", "a\udfffb", "x%FF", "..", "\x00", "𝄞" * 3,
                                    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                                    "P99999999999D", "00000000-0000-0000-0000-000000000000"]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["properties", "location", "tags", "sku", "scaleUnit", "permissions",
                        "expiryTime", "identity", "id", "@odata.type"]) | st.text(max_size=12)
BODIES = st.dictionaries(KEYS, JSON_VALUES, max_size=5)


def send(server: ServerHandle, http: httpx.Client, method: str, template: str,
         body: Any) -> httpx.Response:
    path = template.format(**NAMES)
    # json.dumps escapes what is not ASCII, so lone surrogates travel as "\ud800"
    response = http.request(method, path, params=V, content=json.dumps(body).encode(),
                            headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (method, path, body, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"], response.text
    return response


@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_random_json_is_never_a_500(
    fuzz_server: ServerHandle, method: str, template: str
) -> None:
    with fuzz_server.http() as http:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(body=BODIES)
        def check(body: dict[str, Any]) -> None:
            send(fuzz_server, http, method, template, body)

        check()


@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_random_values_in_known_fields_are_never_a_500(
    fuzz_server: ServerHandle, method: str, template: str
) -> None:
    seed = _seed(seed_kind(method, template))
    paths = list(leaf_paths(seed))
    if not paths:
        pytest.skip("the route takes no body fields")
    with fuzz_server.http() as http:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(where=st.sampled_from(paths), value=JSON_VALUES)
        def check(where: tuple[Any, ...], value: Any) -> None:
            send(fuzz_server, http, method, template, replaced(seed, where, value))

        check()


@pytest.mark.parametrize(("method", "template"), ROUTES)
def test_random_bytes_are_never_a_500(
    fuzz_server: ServerHandle, method: str, template: str
) -> None:
    with fuzz_server.http() as http:

        @settings(max_examples=EXAMPLES // 2, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(body=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
        def check(body: bytes) -> None:
            path = template.format(**NAMES)
            response = http.request(method, path, params=V, content=body,
                                    headers={"Content-Type": "application/json"})
            assert response.status_code < 500, (method, path, body, response.text)
            if response.status_code >= 400:
                assert response.json()["error"]["code"], response.text

        check()
