"""What a key delivery request carries: its token and, for ClearKey, the key ids asked for.

Pure parsing, no I/O. Base64url as EME uses it (no padding).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl

from openvod.errors import InvalidRequestError

MAX_KIDS = 64
_PREFIXES = ("bearer=", "bearer ")


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as JWK and EME write it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Base64url with or without padding; ValueError if it is not."""
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _strip_bearer(value: str) -> str:
    value = value.strip()
    for prefix in _PREFIXES:
        if value[: len(prefix)].lower() == prefix:
            return value[len(prefix):].strip()
    return value


def request_token(headers: Mapping[bytes, bytes], query_string: bytes) -> str | None:
    """The token of a request: ``Authorization: Bearer T``, else ``?token=T``.

    The query form accepts the bare token (AMS's documented form) and ``Bearer=T`` or
    ``Bearer T`` (what AMS samples put in ``token=`` for Safari proxies).
    """
    auth = headers.get(b"authorization", b"").decode("latin-1").strip()
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    token = _strip_bearer(query.get("token", ""))
    return token or None


def parse_kid(text: str) -> uuid.UUID:
    """A key id in a URL path: a GUID (any case, with or without braces)."""
    try:
        return uuid.UUID(text.strip("{}"))
    except ValueError:
        raise InvalidRequestError("The key id is not a GUID.") from None


def parse_license_request(body: bytes) -> list[uuid.UUID]:
    """The key ids of an EME ClearKey license request ``{"kids": [b64url...]}``."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("The license request is not JSON.") from None
    kids = document.get("kids") if isinstance(document, dict) else None
    if not isinstance(kids, list) or not kids or len(kids) > MAX_KIDS:
        raise InvalidRequestError(f"The license request needs 1 to {MAX_KIDS} 'kids'.")
    parsed = []
    for kid in kids:
        try:
            raw = b64url_decode(kid) if isinstance(kid, str) else b""
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 16:
            raise InvalidRequestError("Each of 'kids' must be 16 bytes in base64url.")
        parsed.append(uuid.UUID(bytes=raw))
    return parsed


def license_type(body: bytes) -> str:
    """The session type the request asked for (``temporary`` unless it said otherwise)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return "temporary"
    kind = document.get("type") if isinstance(document, dict) else None
    return kind if kind in ("temporary", "persistent-license") else "temporary"
