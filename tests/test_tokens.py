"""Scoped, expiring, revocable bearer tokens, through the real server and the SDK."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from azure.core.exceptions import HttpResponseError
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import Asset, MediaService

from openvod.clock import as_utc, utcnow
from openvod.db.models import ApiToken
from openvod.services import tokens
from tests.conftest import RESOURCE_GROUP, SUBSCRIPTION, ServerHandle
from tests.test_api_sdk import sdk_client

RG = RESOURCE_GROUP
REPO = Path(__file__).resolve().parents[1]
API = "?api-version=2022-08-01"


@pytest.fixture(scope="module")
def admin(server: ServerHandle) -> Iterator[AzureMediaServices]:
    """An all-accounts client that made the accounts alpha and beta."""
    client = sdk_client(server)
    for name in ("alpha", "beta"):
        client.mediaservices.begin_create_or_update(
            RG, name, MediaService(location="local")).result()
    yield client


def _issue(server: ServerHandle, accounts: list[str] | None = None,
           expires_in: timedelta | None = None) -> tokens.IssuedToken:
    expires_at = utcnow() + expires_in if expires_in is not None else None
    with server.ctx.session() as s:
        return tokens.issue_token(s, "test", accounts=accounts, expires_at=expires_at)


def _status(call: Callable[[], object]) -> tuple[int, str]:
    """(HTTP status, ARM error code) of an SDK call expected to fail."""
    with pytest.raises(HttpResponseError) as info:
        call()
    return info.value.status_code or 0, info.value.error.code if info.value.error else ""


def _get(server: ServerHandle, token: str, path: str) -> httpx.Response:
    return httpx.get(server.base_url + path + API, headers={"Authorization": f"Bearer {token}"})


def _account_path(name: str) -> str:
    return (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}"
            f"/providers/Microsoft.Media/mediaservices/{name}")


def test_scoped_token_works_on_its_account_only(server: ServerHandle,
                                                admin: AzureMediaServices) -> None:
    scoped = sdk_client(server, _issue(server, ["Alpha"]).secret)
    assert scoped.mediaservices.get(RG, "alpha").name == "alpha"
    scoped.assets.create_or_update(RG, "ALPHA", "a1", Asset(description="mine"))
    assert [a.name for a in scoped.assets.list(RG, "alpha")] == ["a1"]
    assert _status(lambda: scoped.mediaservices.get(RG, "beta")) == (403, "AuthorizationFailed")
    assert _status(lambda: scoped.assets.list(RG, "beta").next()) == (403, "AuthorizationFailed")
    assert _status(lambda: scoped.assets.create_or_update(RG, "beta", "b1", Asset())) == (
        403, "AuthorizationFailed")
    assert _status(lambda: scoped.mediaservices.delete(RG, "beta")) == (
        403, "AuthorizationFailed")
    assert "b1" not in [a.name for a in admin.assets.list(RG, "beta")]
    assert admin.mediaservices.get(RG, "beta").name == "beta"


def test_account_lists_show_only_the_scope(server: ServerHandle,
                                           admin: AzureMediaServices) -> None:
    scoped = sdk_client(server, _issue(server, ["alpha"]).secret)
    assert [a.name for a in scoped.mediaservices.list(RG)] == ["alpha"]
    assert [a.name for a in scoped.mediaservices.list_by_subscription()] == ["alpha"]
    everything = {a.name for a in admin.mediaservices.list_by_subscription()}
    assert {"alpha", "beta"} <= everything


def test_scoped_token_creates_only_accounts_in_its_scope(server: ServerHandle,
                                                         admin: AzureMediaServices) -> None:
    scoped = sdk_client(server, _issue(server, ["alpha", "gamma"]).secret)
    made = scoped.mediaservices.begin_create_or_update(
        RG, "gamma", MediaService(location="local")).result()
    assert made.name == "gamma"
    assert _status(lambda: scoped.mediaservices.begin_create_or_update(
        RG, "delta", MediaService(location="local")).result()) == (403, "AuthorizationFailed")
    assert "delta" not in {a.name for a in admin.mediaservices.list_by_subscription()}
    assert [a.name for a in scoped.mediaservices.list(RG)] == ["alpha", "gamma"]


def test_expired_token_gets_401(server: ServerHandle, admin: AzureMediaServices) -> None:
    expired = _issue(server, expires_in=timedelta(minutes=-1))
    response = _get(server, expired.secret, _account_path("alpha"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert "expired" in response.json()["error"]["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert _status(lambda: sdk_client(server, expired.secret).mediaservices.get(RG, "alpha")) == (
        401, "ExpiredAuthenticationToken")


def test_token_stops_working_when_its_expiry_passes(server: ServerHandle,
                                                    admin: AzureMediaServices) -> None:
    issued = _issue(server, ["alpha"], expires_in=timedelta(hours=12))
    client = sdk_client(server, issued.secret)
    assert client.mediaservices.get(RG, "alpha").name == "alpha"
    with server.ctx.session() as s:  # move the token's clock past its expiry
        s.execute(sa.update(ApiToken).where(ApiToken.public_id == issued.public_id)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert _status(lambda: client.mediaservices.get(RG, "alpha")) == (
        401, "ExpiredAuthenticationToken")


def test_revoked_token_gets_401(server: ServerHandle, admin: AzureMediaServices) -> None:
    issued = _issue(server)
    assert _get(server, issued.secret, _account_path("beta")).status_code == 200
    with server.ctx.session() as s:
        tokens.revoke(s, issued.public_id)
    response = _get(server, issued.secret, _account_path("beta"))
    assert response.status_code == 401
    body = response.json()["error"]
    assert body["code"] == "InvalidAuthenticationToken" and "revoked" in body["message"]
    assert "www-authenticate" in response.headers
    assert _status(lambda: sdk_client(server, issued.secret).assets.list(RG, "beta").next()) == (
        401, "InvalidAuthenticationToken")


def test_missing_and_unknown_tokens_get_distinct_401s(server: ServerHandle,
                                                      admin: AzureMediaServices) -> None:
    missing = httpx.get(server.base_url + _account_path("alpha") + API)
    unknown = _get(server, "ovd_never-issued", _account_path("alpha"))
    assert (missing.status_code, unknown.status_code) == (401, 401)
    assert missing.json()["error"]["code"] == "AuthenticationFailed"
    assert unknown.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert _get(server, "x" * 5000, _account_path("alpha")).status_code == 401


def _last_used(server: ServerHandle, public_id: str) -> object:
    with server.ctx.session() as s:
        return s.scalar(sa.select(ApiToken.last_used_at).where(ApiToken.public_id == public_id))


def test_last_used_is_recorded_at_most_once_a_minute(server: ServerHandle,
                                                     admin: AzureMediaServices) -> None:
    issued = _issue(server, ["alpha"])
    assert _last_used(server, issued.public_id) is None
    assert _get(server, issued.secret, _account_path("alpha")).status_code == 200
    assert _last_used(server, issued.public_id) is not None
    recent = utcnow() - timedelta(seconds=30)
    with server.ctx.session() as s:
        s.execute(sa.update(ApiToken).where(ApiToken.public_id == issued.public_id)
                  .values(last_used_at=recent))
    assert _get(server, issued.secret, _account_path("alpha")).status_code == 200
    assert as_utc(_last_used(server, issued.public_id)) == recent  # type: ignore[arg-type]
    with server.ctx.session() as s:
        s.execute(sa.update(ApiToken).where(ApiToken.public_id == issued.public_id)
                  .values(last_used_at=recent - timedelta(minutes=1)))
    assert _get(server, issued.secret, _account_path("alpha")).status_code == 200
    assert as_utc(_last_used(server, issued.public_id)) > recent  # type: ignore[arg-type]


def _cli(server: ServerHandle, *args: str) -> subprocess.CompletedProcess[str]:
    """``openvod ARGS`` in a subprocess on the server's database."""
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="250",
               OPENVOD_DATA_DIR=str(server.ctx.settings.resolved_data_dir),
               OPENVOD_DATABASE_URL=server.ctx.settings.resolved_database_url)
    return subprocess.run([sys.executable, "-c", "from openvod.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_create_list_revoke(server: ServerHandle, admin: AzureMediaServices) -> None:
    created = _cli(server, "token", "create", "--account", "alpha", "--expires", "12h",
                   "--label", "ci-deploy")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    found = re.search(r"^token (tok_[0-9a-f]+) \(alpha; expires 20", created.stderr, re.M)
    assert secret.startswith("ovd_") and found is not None, created.stderr
    public_id = found[1]
    client = sdk_client(server, secret)
    assert client.mediaservices.get(RG, "alpha").name == "alpha"
    assert _status(lambda: client.mediaservices.get(RG, "beta")) == (403, "AuthorizationFailed")

    listed = _cli(server, "token", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if public_id in x)
    assert "ci-deploy" in line and "alpha" in line and "never" not in line
    assert "all accounts" in listed.stdout  # the fixture's token
    for known in (secret, server.token):
        assert known not in listed.stdout and known[4:20] not in listed.stdout

    revoked = _cli(server, "token", "revoke", public_id)
    assert revoked.returncode == 0 and public_id in revoked.stdout
    assert _status(lambda: client.mediaservices.get(RG, "alpha")) == (
        401, "InvalidAuthenticationToken")
    line = next(x for x in _cli(server, "token", "list").stdout.splitlines() if public_id in x)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells[:3] == [public_id, "ci-deploy", "alpha"]
    assert all(c.endswith("Z") for c in cells[3:]), cells  # created, expires, last used, revoked


def test_cli_rejects_bad_input(server: ServerHandle) -> None:
    assert _cli(server, "token", "create", "--expires", "soon").returncode == 2
    assert _cli(server, "token", "create", "--account", "Not/An/Account").returncode == 2
    unknown = _cli(server, "token", "revoke", "tok_0000000000")
    assert unknown.returncode == 1 and "tok_0000000000" in unknown.stderr
