"""Token-restricted key delivery over real HTTP: each refusal its own test, never key bytes.

Policies are made with the SDK; tokens with PyJWT (HS256 with symmetric keys, RS256 with
RSA keys given as modulus/exponent or as an X509 certificate) and by hand (SWT).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
import sqlalchemy as sa
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media import models as ams
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from openvod.db.models import KeyTokenUse
from openvod.keydelivery.requests import b64url_decode
from openvod.keys.tokens import CONTENT_KEY_CLAIM, MAX_USES_CLAIM, token_hash
from tests.conftest import ServerHandle
from tests.key_delivery_support import (
    ACC,
    AUDIENCE,
    ISSUER,
    RG,
    LocatorKey,
    clear_key_option,
    get_key,
    jwt_restriction,
    post_license,
    publish,
    put_policy,
    symmetric_key,
)
from tests.test_api_sdk import sdk_client

OTHER_ACC = "otheraccount"
HS_KEY = bytes(range(64))
HS_ALTERNATE = bytes(range(64, 128))
OTHER_ACCOUNT_KEY = bytes(range(128, 192))
SWT_KEY = bytes(range(192, 256))
Claim = ams.ContentKeyPolicyTokenClaim


@dataclass
class Fixtures:
    """Keys of the published locators and the RSA private keys that sign for them."""

    base: str
    hs: LocatorKey
    rsa: LocatorKey
    x509: LocatorKey
    kid_bound: LocatorKey
    kid_bound_other: LocatorKey
    swt: LocatorKey
    other_account: LocatorKey
    rsa_private: rsa.RSAPrivateKey
    x509_private: rsa.RSAPrivateKey


def _b64_int(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _rsa_policy_key(private: rsa.RSAPrivateKey) -> ams.ContentKeyPolicyRsaTokenKey:
    numbers = private.public_key().public_numbers()
    return ams.ContentKeyPolicyRsaTokenKey(exponent=_b64_int(numbers.e),
                                           modulus=_b64_int(numbers.n))


def _certificate(private: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openvod test issuer")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(private, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _policies(client: AzureMediaServices, rsa_private: rsa.RSAPrivateKey,
              x509_private: rsa.RSAPrivateKey) -> None:
    required = [Claim(claim_type="role", claim_value="viewer"), Claim(claim_type="sub")]
    put_policy(client, "hs", clear_key_option(jwt_restriction(
        symmetric_key(HS_KEY), alternates=[symmetric_key(HS_ALTERNATE)], claims=required)))
    put_policy(client, "rsa", clear_key_option(jwt_restriction(_rsa_policy_key(rsa_private))))
    put_policy(client, "x509", clear_key_option(jwt_restriction(
        ams.ContentKeyPolicyX509CertificateTokenKey(raw_body=_certificate(x509_private)))))
    put_policy(client, "kid", clear_key_option(jwt_restriction(
        symmetric_key(HS_KEY), claims=[Claim(claim_type=CONTENT_KEY_CLAIM)])))
    put_policy(client, "swt", clear_key_option(jwt_restriction(
        symmetric_key(SWT_KEY), token_type="Swt")))
    put_policy(client, "other", clear_key_option(jwt_restriction(
        symmetric_key(OTHER_ACCOUNT_KEY))), account=OTHER_ACC)


@pytest.fixture(scope="module")
def fx(server: ServerHandle) -> Iterator[Fixtures]:
    client = sdk_client(server)
    for account in (ACC, OTHER_ACC):
        client.mediaservices.begin_create_or_update(
            RG, account, ams.MediaService(location="local")).result()
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    x509_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _policies(client, rsa_private, x509_private)
    yield Fixtures(
        base=server.base_url,
        hs=publish(client, "hs-loc", "hs"),
        rsa=publish(client, "rsa-loc", "rsa"),
        x509=publish(client, "x509-loc", "x509"),
        kid_bound=publish(client, "kid-loc", "kid"),
        kid_bound_other=publish(client, "kid-loc2", "kid"),
        swt=publish(client, "swt-loc", "swt"),
        other_account=publish(client, "other-loc", "other", account=OTHER_ACC),
        rsa_private=rsa_private, x509_private=x509_private,
    )


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims that pass the "hs" policy, with some replaced (None removes one)."""
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "nbf": now - 60,
                            "role": "viewer", "sub": "alice"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(secret: bytes = HS_KEY, **overrides: Any) -> str:
    """An HS256 JWT."""
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")


def swt(secret: bytes = SWT_KEY, *, expires_in: int = 600, issuer: str = ISSUER) -> str:
    """A Simple Web Token signed with HMACSHA256."""
    body = (f"Issuer={quote(issuer, safe='')}&Audience={quote(AUDIENCE, safe='')}"
            f"&ExpiresOn={int(time.time()) + expires_in}&role=viewer")
    signature = base64.b64encode(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    return f"{body}&HMACSHA256={quote(signature.decode(), safe='')}"


def assert_refused(got: httpx.Response, status: int, key: LocatorKey) -> None:
    """The refusal has the status and holds no byte of the key, raw or encoded."""
    assert got.status_code == status, got.text
    assert key.value not in got.content
    assert base64.b64encode(key.value) not in got.content
    assert base64.urlsafe_b64encode(key.value).rstrip(b"=") not in got.content


# --- accepted ----------------------------------------------------------------------------


def test_hs256_token_in_query(fx: Fixtures) -> None:
    got = get_key(fx.base, fx.hs.kid, hs256())
    assert got.status_code == 200 and got.content == fx.hs.value


def test_hs256_token_in_header(fx: Fixtures) -> None:
    got = get_key(fx.base, fx.hs.kid, hs256(), header=True)
    assert got.status_code == 200 and got.content == fx.hs.value


def test_bearer_prefixed_query_token(fx: Fixtures) -> None:
    url = f"{fx.base}/keydelivery/hls/{fx.hs.kid}?token={quote('Bearer=' + hs256(), safe='')}"
    assert httpx.get(url, timeout=30).content == fx.hs.value


def test_alternate_key_accepted(fx: Fixtures) -> None:
    assert get_key(fx.base, fx.hs.kid, hs256(HS_ALTERNATE)).content == fx.hs.value


def test_rsa_token_accepted(fx: Fixtures) -> None:
    token = jwt.encode(claims(), fx.rsa_private, algorithm="RS256")
    assert get_key(fx.base, fx.rsa.kid, token).content == fx.rsa.value


def test_x509_token_accepted(fx: Fixtures) -> None:
    token = jwt.encode(claims(), fx.x509_private, algorithm="RS256")
    assert get_key(fx.base, fx.x509.kid, token).content == fx.x509.value
    other = jwt.encode(claims(), fx.rsa_private, algorithm="RS256")
    assert_refused(get_key(fx.base, fx.x509.kid, other), 401, fx.x509)


def test_content_key_claim_for_this_key(fx: Fixtures) -> None:
    token = hs256(**{CONTENT_KEY_CLAIM: str(fx.kid_bound.kid)})
    assert get_key(fx.base, fx.kid_bound.kid, token).content == fx.kid_bound.value


def test_swt_accepted(fx: Fixtures) -> None:
    assert get_key(fx.base, fx.swt.kid, swt()).content == fx.swt.value


# --- refused -----------------------------------------------------------------------------


def test_no_token(fx: Fixtures) -> None:
    got = get_key(fx.base, fx.hs.kid)
    assert_refused(got, 401, fx.hs)
    assert got.headers["www-authenticate"] == "Bearer"


def test_expired(fx: Fixtures) -> None:
    expired = hs256(exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200)
    assert_refused(get_key(fx.base, fx.hs.kid, expired), 401, fx.hs)


def test_not_yet_valid(fx: Fixtures) -> None:
    later = hs256(nbf=int(time.time()) + 3600, exp=int(time.time()) + 7200)
    assert_refused(get_key(fx.base, fx.hs.kid, later), 401, fx.hs)


def test_wrong_issuer(fx: Fixtures) -> None:
    assert_refused(get_key(fx.base, fx.hs.kid, hs256(iss="https://evil.example/")), 401, fx.hs)


def test_wrong_audience(fx: Fixtures) -> None:
    assert_refused(get_key(fx.base, fx.hs.kid, hs256(aud="urn:other")), 401, fx.hs)


def test_bad_signature(fx: Fixtures) -> None:
    assert_refused(get_key(fx.base, fx.hs.kid, hs256(b"x" * 64)), 401, fx.hs)
    head, body, _ = hs256().split(".")
    forged = f"{head}.{body}.{base64.urlsafe_b64encode(b'0' * 32).rstrip(b'=').decode()}"
    assert_refused(get_key(fx.base, fx.hs.kid, forged), 401, fx.hs)


def test_alg_none(fx: Fixtures) -> None:
    token = jwt.encode(claims(), None, algorithm="none")
    assert_refused(get_key(fx.base, fx.hs.kid, token), 401, fx.hs)
    assert_refused(get_key(fx.base, fx.rsa.kid, token), 401, fx.rsa)


def test_hs256_signed_with_the_rsa_public_key(fx: Fixtures) -> None:
    public = fx.rsa_private.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    numbers = public.public_numbers()
    for secret in (pem, der, _b64_int(numbers.n)):
        header = {"alg": "HS256", "typ": "JWT"}
        signing = (base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=")
                   + b"." + base64.urlsafe_b64encode(
                       json.dumps(claims()).encode()).rstrip(b"="))
        mac = hmac.new(secret, signing, hashlib.sha256).digest()
        token = (signing + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
        assert_refused(get_key(fx.base, fx.rsa.kid, token), 401, fx.rsa)


def test_missing_required_claim(fx: Fixtures) -> None:
    assert_refused(get_key(fx.base, fx.hs.kid, hs256(sub=None)), 403, fx.hs)


def test_wrong_claim_value(fx: Fixtures) -> None:
    assert_refused(get_key(fx.base, fx.hs.kid, hs256(role="admin")), 403, fx.hs)


def test_content_key_claim_for_another_key(fx: Fixtures) -> None:
    token = hs256(**{CONTENT_KEY_CLAIM: str(fx.kid_bound_other.kid)})
    assert_refused(get_key(fx.base, fx.kid_bound.kid, token), 403, fx.kid_bound)
    # the policy requires the claim: a token without it opens nothing
    assert_refused(get_key(fx.base, fx.kid_bound.kid, hs256()), 403, fx.kid_bound)


def test_maxuses_exceeded(fx: Fixtures) -> None:
    token = hs256(**{MAX_USES_CLAIM: 2, "jti": str(uuid.uuid4())})
    for _ in range(2):
        assert get_key(fx.base, fx.hs.kid, token).content == fx.hs.value
    assert_refused(get_key(fx.base, fx.hs.kid, token), 403, fx.hs)
    assert_refused(post_license(fx.base, [fx.hs.kid], token), 403, fx.hs)


def test_key_of_another_account(fx: Fixtures) -> None:
    assert_refused(get_key(fx.base, fx.other_account.kid, hs256()), 401, fx.other_account)
    own = hs256(OTHER_ACCOUNT_KEY, role=None, sub=None)
    assert get_key(fx.base, fx.other_account.kid, own).content == fx.other_account.value
    assert_refused(get_key(fx.base, fx.hs.kid, own), 401, fx.hs)


def test_swt_refused(fx: Fixtures) -> None:
    assert_refused(get_key(fx.base, fx.swt.kid, swt(b"y" * 64)), 401, fx.swt)
    assert_refused(get_key(fx.base, fx.swt.kid, swt(expires_in=-3600)), 401, fx.swt)
    assert_refused(get_key(fx.base, fx.swt.kid, swt(issuer="https://evil/")), 401, fx.swt)
    tampered = swt().replace("role=viewer", "role=admin")
    assert_refused(get_key(fx.base, fx.swt.kid, tampered), 401, fx.swt)
    assert_refused(get_key(fx.base, fx.swt.kid, hs256(SWT_KEY)), 401, fx.swt)


# --- ClearKey licenses -------------------------------------------------------------------


def test_license_only_for_authorized_kids(fx: Fixtures) -> None:
    token = hs256(**{CONTENT_KEY_CLAIM: str(fx.kid_bound.kid)})
    got = post_license(fx.base, [fx.kid_bound.kid, fx.kid_bound_other.kid, fx.rsa.kid], token)
    assert got.status_code == 200
    keys = got.json()["keys"]
    assert [b64url_decode(k["kid"]) for k in keys] == [fx.kid_bound.kid.bytes]
    assert b64url_decode(keys[0]["k"]) == fx.kid_bound.value
    assert fx.kid_bound_other.value not in got.content
    assert fx.rsa.value not in b64url_decode(keys[0]["k"])


def test_license_refused_for_every_kid(fx: Fixtures) -> None:
    assert_refused(post_license(fx.base, [fx.hs.kid]), 401, fx.hs)
    assert_refused(post_license(fx.base, [fx.hs.kid], hs256(role="x")), 403, fx.hs)


def test_license_for_several_kids(fx: Fixtures) -> None:
    got = post_license(fx.base, [fx.hs.kid, fx.kid_bound.kid], hs256())
    assert got.status_code == 200
    # the kid-bound key needs the content key claim: only the hs key comes back
    assert [b64url_decode(k["k"]) for k in got.json()["keys"]] == [fx.hs.value]


# --- at rest and in logs -----------------------------------------------------------------


def _encodings(secret: bytes) -> list[str]:
    return [base64.b64encode(secret).decode(), secret.hex(), secret.hex().upper(),
            base64.urlsafe_b64encode(secret).rstrip(b"=").decode()]


def test_keys_and_secrets_are_wrapped_in_the_database(server: ServerHandle, fx: Fixtures) -> None:
    with server.ctx.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT properties, extra FROM resources")).all()
        uses = conn.execute(sa.text("SELECT token_hash FROM key_token_uses")).all()
    stored = "\n".join(f"{p}{e}" for p, e in rows) + "".join(u for (u,) in uses)
    keys = [fx.hs, fx.rsa, fx.x509, fx.kid_bound, fx.swt, fx.other_account]
    assert all(str(k.kid) in stored for k in keys)  # the ids are there, in clear
    for secret in [k.value for k in keys] + [HS_KEY, HS_ALTERNATE, SWT_KEY, OTHER_ACCOUNT_KEY]:
        for text in _encodings(secret):
            assert text not in stored
    modulus = _b64_int(fx.rsa_private.public_key().public_numbers().n)
    assert base64.b64encode(modulus).decode() not in stored


def test_no_key_or_token_in_logs(fx: Fixtures, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    good, bad = hs256(), hs256(role="admin")
    assert get_key(fx.base, fx.hs.kid, good).status_code == 200
    assert get_key(fx.base, fx.hs.kid, bad).status_code == 403
    assert post_license(fx.base, [fx.hs.kid], good).status_code == 200
    assert httpx.get(f"{fx.base}/keydelivery/hls/{fx.hs.kid}?token=garbage{good}",
                     timeout=30).status_code == 401
    # The test's own HTTP client logs its URLs; everything else is the server's.
    server_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in server_records)
    for token in (good, bad):
        assert token not in text and token.split(".")[2] not in text
    for encoded in _encodings(fx.hs.value) + _encodings(HS_KEY):
        assert encoded not in text


def test_unusable_rsa_key_is_skipped_for_the_alternate(server: ServerHandle, fx: Fixtures) -> None:
    client = sdk_client(server)
    broken = ams.ContentKeyPolicyRsaTokenKey(exponent=b"\x03", modulus=b"\x04")
    put_policy(client, "broken-rsa", clear_key_option(jwt_restriction(
        broken, alternates=[symmetric_key(HS_ALTERNATE)])))
    key = publish(client, "broken-rsa-loc", "broken-rsa")
    rs = jwt.encode(claims(), fx.rsa_private, algorithm="RS256")
    assert_refused(get_key(fx.base, key.kid, rs), 401, key)
    assert get_key(fx.base, key.kid, hs256(HS_ALTERNATE)).content == key.value


def test_counts_of_long_expired_tokens_are_purged(server: ServerHandle, fx: Fixtures) -> None:
    old = datetime.now(UTC) - timedelta(days=2)
    with server.ctx.engine.begin() as conn:
        conn.execute(sa.insert(KeyTokenUse.__table__).values(
            token_hash="0" * 64, uses=1, created_at=old, expires_at=old))
    token = hs256(**{MAX_USES_CLAIM: 1, "jti": str(uuid.uuid4())})
    assert get_key(fx.base, fx.hs.kid, token).content == fx.hs.value
    with server.ctx.engine.connect() as conn:
        hashes = {h for (h,) in conn.execute(sa.select(KeyTokenUse.token_hash))}
    assert "0" * 64 not in hashes and token_hash(token) in hashes
