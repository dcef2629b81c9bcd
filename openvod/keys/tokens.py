"""Token restrictions of content key policies: JWT and SWT checks, as AMS key delivery made them.

A :class:`ContentKeyPolicyTokenRestriction` names an issuer, an audience, a primary and
alternate verification keys (symmetric, RSA modulus/exponent, X509 certificate), the
token type and required claims. :func:`verify_token` checks one token against one
restriction for one requested key and returns what the caller still has to enforce
(the ``maxuses`` count). It raises :class:`~openvod.errors.AuthenticationError` (401)
for a token that is missing, malformed, badly signed, expired, not yet valid, or for
another issuer or audience, and :class:`~openvod.errors.AuthorizationError` (403) for a
valid token that does not allow this key (a required claim missing or different, the
content key identifier claim naming another key). Messages never contain the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from openvod.errors import AuthenticationError, AuthorizationError
from openvod.resources.content_key_policies import (
    ContentKeyPolicyRsaTokenKey,
    ContentKeyPolicySymmetricTokenKey,
    ContentKeyPolicyTokenRestriction,
    ContentKeyPolicyX509CertificateTokenKey,
)

CONTENT_KEY_CLAIM = "urn:microsoft:azure:mediaservices:contentkeyidentifier"
MAX_USES_CLAIM = "urn:microsoft:azure:mediaservices:maxuses"
HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"]
RSA_ALGORITHMS = ["RS256", "RS384", "RS512"]
CLOCK_SKEW_SECONDS = 30
SWT_SIGNATURE_FIELD = "HMACSHA256"
TokenKey = (
    ContentKeyPolicySymmetricTokenKey
    | ContentKeyPolicyRsaTokenKey
    | ContentKeyPolicyX509CertificateTokenKey
)


@dataclass(frozen=True)
class AcceptedToken:
    """A token that passed a restriction: its claims and its use limit, if any."""

    claims: Mapping[str, Any]
    max_uses: int | None
    token_hash: str  # SHA-256 of the token: what use counts are kept under


def token_hash(token: str) -> str:
    """The SHA-256 hex digest a token's uses are counted under (the token is never stored)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _rsa_key(key: ContentKeyPolicyRsaTokenKey) -> RSAPublicKey:
    exponent = int.from_bytes(base64.b64decode(key.exponent), "big")
    modulus = int.from_bytes(base64.b64decode(key.modulus), "big")
    return RSAPublicNumbers(exponent, modulus).public_key()


def _x509_key(key: ContentKeyPolicyX509CertificateTokenKey) -> RSAPublicKey | None:
    try:
        public = x509.load_der_x509_certificate(base64.b64decode(key.raw_body)).public_key()
    except ValueError:
        return None
    return public if isinstance(public, RSAPublicKey) else None


def jwt_verifier(key: TokenKey) -> tuple[bytes | RSAPublicKey, list[str]] | None:
    """(key, allowed algorithms) for PyJWT; None for a key that cannot verify anything.

    Each key type allows only its own algorithms, so a token "signed" with HS256 using an
    RSA policy's public key as the HMAC secret is refused, and ``alg: none`` never is.
    """
    if isinstance(key, ContentKeyPolicySymmetricTokenKey):
        return base64.b64decode(key.key_value), HMAC_ALGORITHMS
    if isinstance(key, ContentKeyPolicyRsaTokenKey):
        return _rsa_key(key), RSA_ALGORITHMS
    public = _x509_key(key)
    return (public, RSA_ALGORITHMS) if public is not None else None


def _keys(restriction: ContentKeyPolicyTokenRestriction) -> list[TokenKey]:
    return [restriction.primary_verification_key, *(restriction.alternate_verification_keys or [])]


def _decode_jwt(token: str, restriction: ContentKeyPolicyTokenRestriction) -> dict[str, Any]:
    """The claims of a JWT signed by one of the restriction's keys, all standard checks made."""
    for key in _keys(restriction):
        verifier = jwt_verifier(key)
        if verifier is None:
            continue
        secret, algorithms = verifier
        try:
            return jwt.decode(
                token, secret, algorithms=algorithms, audience=restriction.audience,
                issuer=restriction.issuer, leeway=CLOCK_SKEW_SECONDS,
                options={"require": [], "verify_iat": False},
            )
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.InvalidKeyError):
            continue  # another key (an alternate) may have signed it
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("The token is not valid yet.") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("The token's issuer is not the policy's.") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("The token's audience is not the policy's.") from None
        except jwt.PyJWTError:
            raise AuthenticationError("The token is not a valid JWT.") from None
    raise AuthenticationError("The token is not signed by a key of the policy.")


def _swt_fields(token: str) -> tuple[str, dict[str, str], bytes]:
    """(signed text, fields, signature) of a Simple Web Token."""
    marker = "&" + SWT_SIGNATURE_FIELD + "="
    signed, sep, _ = token.rpartition(marker)
    fields = dict(parse_qsl(token, keep_blank_values=True))
    if not sep or SWT_SIGNATURE_FIELD not in fields:
        raise AuthenticationError("The token is not a valid SWT.")
    try:
        signature = base64.b64decode(fields.pop(SWT_SIGNATURE_FIELD), validate=True)
    except (binascii.Error, ValueError):
        raise AuthenticationError("The token is not a valid SWT.") from None
    return signed, fields, signature


def _decode_swt(
    token: str, restriction: ContentKeyPolicyTokenRestriction, now: datetime
) -> dict[str, Any]:
    """The claims of an SWT signed (HMAC-SHA256) by a symmetric key of the restriction."""
    signed, fields, signature = _swt_fields(token)
    secrets = [base64.b64decode(k.key_value) for k in _keys(restriction)
               if isinstance(k, ContentKeyPolicySymmetricTokenKey)]
    digests = (hmac.new(s, signed.encode("utf-8"), hashlib.sha256).digest() for s in secrets)
    if not any(hmac.compare_digest(d, signature) for d in digests):
        raise AuthenticationError("The token is not signed by a key of the policy.")
    try:
        expires_on = int(fields.pop("ExpiresOn"))
    except (KeyError, ValueError):
        raise AuthenticationError("The token has no valid ExpiresOn.") from None
    if expires_on + CLOCK_SKEW_SECONDS <= now.timestamp():
        raise AuthenticationError("The token has expired.")
    if fields.pop("Issuer", None) != restriction.issuer:
        raise AuthenticationError("The token's issuer is not the policy's.")
    if fields.pop("Audience", None) != restriction.audience:
        raise AuthenticationError("The token's audience is not the policy's.")
    return dict(fields)


def _claim_matches(actual: Any, wanted: str) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    return any(str(v) == wanted for v in values)


def _same_key(actual: Any, kid: uuid.UUID) -> bool:
    try:
        return uuid.UUID(str(actual)) == kid
    except ValueError:
        return False


def check_claims(
    claims: Mapping[str, Any], restriction: ContentKeyPolicyTokenRestriction, kid: uuid.UUID
) -> None:
    """AuthorizationError unless the required claims hold and the token may open ``kid``."""
    for required in restriction.required_claims or []:
        name = required.claim_type
        if not name:
            continue
        if name not in claims:
            raise AuthorizationError(f"The token lacks the required claim '{name}'.")
        if required.claim_value is not None and not _claim_matches(claims[name],
                                                                   required.claim_value):
            raise AuthorizationError(f"The token's claim '{name}' has another value.")
    # A token naming a key opens only that key, whether or not the policy requires the claim.
    if CONTENT_KEY_CLAIM in claims and not _same_key(claims[CONTENT_KEY_CLAIM], kid):
        raise AuthorizationError("The token is for another content key.")


def _max_uses(claims: Mapping[str, Any]) -> int | None:
    if MAX_USES_CLAIM not in claims:
        return None
    try:
        return max(0, int(str(claims[MAX_USES_CLAIM])))
    except ValueError:
        raise AuthorizationError(f"The token's claim '{MAX_USES_CLAIM}' is not a number.") from None


def verify_token(
    token: str | None, restriction: ContentKeyPolicyTokenRestriction, kid: uuid.UUID,
    now: datetime,
) -> AcceptedToken:
    """Check ``token`` against a token restriction for key ``kid`` (see the module doc)."""
    if not token:
        raise AuthenticationError("A token is required: Authorization: Bearer or ?token=.")
    if restriction.restriction_token_type == "Swt":
        claims = _decode_swt(token, restriction, now)
    elif restriction.restriction_token_type == "Jwt":
        claims = _decode_jwt(token, restriction)
    else:
        raise AuthorizationError("The policy's token type is not supported.")
    check_claims(claims, restriction, kid)
    return AcceptedToken(claims=claims, max_uses=_max_uses(claims), token_hash=token_hash(token))
