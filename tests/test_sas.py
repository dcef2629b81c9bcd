"""Service SAS: byte-identical to azure-storage-blob's, and verified strictly."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from azure.storage.blob import generate_blob_sas as sdk_blob_sas
from azure.storage.blob import generate_container_sas as sdk_container_sas
from azure.storage.blob._serialize import _SUPPORTED_API_VERSIONS
from azure.storage.blob._shared.constants import X_MS_VERSION

from openvod.errors import SasError
from openvod.storage.sas import (
    SAS_VERSION,
    canonical_permission,
    generate_blob_sas,
    generate_container_sas,
    parse_sas_time,
    string_to_sign,
    verify_sas,
)

ACCOUNT = "mediaaccount"
KEY = hashlib.sha256(b"sas test key").digest()
KEY_B64 = base64.b64encode(KEY).decode()
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
EXPIRY = NOW + timedelta(hours=2)


def _query(token: str) -> dict[str, str]:
    return dict(parse_qsl(token, keep_blank_values=True))


def _verify(
    token: str, *, container: str = "asset-1", blob: str | None = None, **kw: object
) -> None:
    args: dict[str, object] = {
        "account_name": ACCOUNT,
        "account_key": KEY,
        "container": container,
        "blob": blob,
        "required": "",
        "now": NOW,
    }
    args.update(kw)
    verify_sas(_query(token), **args)  # type: ignore[arg-type]


def test_default_version_is_one_the_sdk_knows() -> None:
    assert SAS_VERSION in _SUPPORTED_API_VERSIONS


@pytest.mark.parametrize("permission", ["r", "rl", "racwdl", "wc"])
@pytest.mark.parametrize("start", [None, NOW - timedelta(minutes=5)])
def test_container_sas_matches_the_sdk(permission: str, start: datetime | None) -> None:
    ours = generate_container_sas(
        ACCOUNT, KEY, "asset-1", permission, EXPIRY, start, version=X_MS_VERSION
    )
    theirs = sdk_container_sas(
        ACCOUNT,
        "asset-1",
        account_key=KEY_B64,
        permission=canonical_permission(permission),
        expiry=EXPIRY,
        start=start,
    )
    assert ours == theirs


@pytest.mark.parametrize("blob", ["video.mp4", "folder/sub/clip 1.mp4", "ünïcødé/ファイル.ts"])
def test_blob_sas_matches_the_sdk(blob: str) -> None:
    ours = generate_blob_sas(
        ACCOUNT, KEY, "asset-1", blob, "r", EXPIRY, protocol="https,http", version=X_MS_VERSION
    )
    theirs = sdk_blob_sas(
        ACCOUNT,
        "asset-1",
        blob,
        account_key=KEY_B64,
        permission="r",
        expiry=EXPIRY,
        protocol="https,http",
    )
    assert ours == theirs
    _verify(theirs, blob=blob, required="r", scheme="http")


def test_sdk_tokens_verify() -> None:
    token = sdk_container_sas(
        ACCOUNT, "asset-1", account_key=KEY_B64, permission="racwdl", expiry=EXPIRY, ip="10.0.0.1"
    )
    _verify(token, required="rw", client_ip="10.0.0.1")
    _verify(token, blob="any/blob.mp4", required="d")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sig", None),
        ("se", "2099-01-01T00:00:00Z"),
        ("sp", "racwdl"),
        ("sr", "b"),
        ("sv", "2021-06-08"),
    ],
)
def test_tampering_is_detected(field: str, value: str | None) -> None:
    query = _query(generate_container_sas(ACCOUNT, KEY, "asset-1", "r", EXPIRY))
    if value is None:
        sig = query["sig"]
        value = ("B" if sig[0] == "A" else "A") + sig[1:]
    query[field] = value
    with pytest.raises(SasError) as caught:
        verify_sas(
            query,
            account_name=ACCOUNT,
            account_key=KEY,
            container="asset-1",
            blob="x",
            required="",
            now=NOW,
        )
    assert caught.value.code == "AuthenticationFailed"


def test_wrong_key_account_or_container_fail() -> None:
    token = generate_container_sas(ACCOUNT, KEY, "asset-1", "r", EXPIRY)
    with pytest.raises(SasError, match="Signature did not match"):
        _verify(token, container="asset-2")
    with pytest.raises(SasError):
        _verify(token, account_name="other")
    with pytest.raises(SasError):
        _verify(token, account_key=b"\x00" * 32)


def test_expired_and_not_yet_valid() -> None:
    token = generate_container_sas(ACCOUNT, KEY, "asset-1", "r", NOW - timedelta(seconds=1))
    with pytest.raises(SasError, match="expired"):
        _verify(token)
    future = generate_container_sas(
        ACCOUNT, KEY, "asset-1", "r", EXPIRY, start=NOW + timedelta(minutes=16)
    )
    with pytest.raises(SasError, match="not valid before"):
        _verify(future)
    skewed = generate_container_sas(
        ACCOUNT, KEY, "asset-1", "r", EXPIRY, start=NOW + timedelta(minutes=10)
    )
    _verify(skewed)  # Azure tolerates 15 minutes of clock skew on st


def test_missing_permission() -> None:
    token = generate_container_sas(ACCOUNT, KEY, "asset-1", "rl", EXPIRY)
    _verify(token, required="rl")
    with pytest.raises(SasError) as caught:
        _verify(token, blob="a.mp4", required="w")
    assert caught.value.code == "AuthorizationPermissionMismatch"
    assert "'w'" in caught.value.message


def test_blob_sas_scope() -> None:
    token = generate_blob_sas(ACCOUNT, KEY, "asset-1", "a.mp4", "r", EXPIRY)
    _verify(token, blob="a.mp4", required="r")
    with pytest.raises(SasError, match="Signature did not match"):
        _verify(token, blob="b.mp4", required="r")
    with pytest.raises(SasError) as caught:
        _verify(token, blob=None, required="")
    assert caught.value.code == "AuthorizationResourceTypeMismatch"


@pytest.mark.parametrize("missing", ["sig", "se", "sp", "sv", "sr"])
def test_missing_fields(missing: str) -> None:
    query = _query(generate_container_sas(ACCOUNT, KEY, "asset-1", "r", EXPIRY))
    del query[missing]
    with pytest.raises(SasError, match=f"missing required fields: {missing}"):
        verify_sas(
            query,
            account_name=ACCOUNT,
            account_key=KEY,
            container="asset-1",
            blob=None,
            required="",
            now=NOW,
        )


def test_unsupported_kinds_are_refused() -> None:
    query = _query(generate_container_sas(ACCOUNT, KEY, "asset-1", "r", EXPIRY))
    for extra in ({"si": "policy"}, {"skoid": "x"}, {"sr": "d"}):
        with pytest.raises(SasError):
            verify_sas(
                {**query, **extra},
                account_name=ACCOUNT,
                account_key=KEY,
                container="asset-1",
                blob=None,
                required="",
                now=NOW,
            )


def test_protocol_and_ip_restrictions() -> None:
    https_only = generate_container_sas(ACCOUNT, KEY, "asset-1", "r", EXPIRY, protocol="https")
    _verify(https_only, scheme="https")
    with pytest.raises(SasError) as caught:
        _verify(https_only, scheme="http")
    assert caught.value.code == "AuthorizationProtocolMismatch"
    ranged = generate_container_sas(ACCOUNT, KEY, "asset-1", "r", EXPIRY, ip="10.0.0.5-10.0.0.9")
    _verify(ranged, client_ip="10.0.0.7")
    for outside in ("10.0.0.10", "::1", "not-an-ip"):
        with pytest.raises(SasError):
            _verify(ranged, client_ip=outside)


def test_older_signed_version_omits_the_encryption_scope_line() -> None:
    old = {"sv": "2019-12-12", "sp": "r", "se": "x", "sr": "c"}
    new = {**old, "sv": "2021-06-08"}
    assert (
        string_to_sign(new, "/blob/a/c").count("\n")
        == string_to_sign(old, "/blob/a/c").count("\n") + 1
    )
    token = generate_container_sas(ACCOUNT, KEY, "asset-1", "r", EXPIRY, version="2019-12-12")
    _verify(token)
    ancient = generate_container_sas(ACCOUNT, KEY, "asset-1", "r", EXPIRY, version="2015-04-05")
    with pytest.raises(SasError, match="older"):
        _verify(ancient)


def test_canonical_permission() -> None:
    assert canonical_permission("lwdcar") == "racwdl"
    assert canonical_permission("rr") == "r"
    with pytest.raises(ValueError):
        canonical_permission("rz")


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-01T12:00:00Z",
        "2025-03-01T12:00Z",
        "2025-03-01T12:00:00.0000000Z",
        "2025-03-01T13:00:00+01:00",
    ],
)
def test_parse_sas_time(text: str) -> None:
    assert parse_sas_time(text) == NOW


def test_parse_sas_time_date_only_and_garbage() -> None:
    assert parse_sas_time("2025-03-01") == datetime(2025, 3, 1, tzinfo=UTC)
    with pytest.raises(SasError):
        parse_sas_time("tomorrow")
