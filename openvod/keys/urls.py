"""URLs of the key delivery service, as manifests and players use them.

The origin (dynamic encryption) writes these into ``#EXT-X-KEY`` URIs and DASH
``ContentProtection`` elements; a token given on the manifest URL is carried into
them as a ``token`` query parameter, so a plain player needs no proxy.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

KEY_DELIVERY_PREFIX = "/keydelivery"
HLS_KEY_PATH = KEY_DELIVERY_PREFIX + "/hls/"
CLEARKEY_PATH = KEY_DELIVERY_PREFIX + "/clearkey"


def _with_token(url: str, token: str | None) -> str:
    return url if not token else f"{url}?token={quote(token, safe='')}"


def hls_key_url(public_base: str, kid: uuid.UUID, token: str | None) -> str:
    """The URL that returns the 16 raw bytes of key ``kid`` (HLS AES-128 and SAMPLE-AES)."""
    return _with_token(f"{public_base.rstrip('/')}{HLS_KEY_PATH}{kid}", token)


def clearkey_license_url(public_base: str, token: str | None) -> str:
    """The W3C ClearKey license URL (EME JSON request in, JWK set out)."""
    return _with_token(f"{public_base.rstrip('/')}{CLEARKEY_PATH}", token)
