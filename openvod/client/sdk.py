"""Helpers for using the official Azure SDK with openvod (client side)."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken


class StaticTokenCredential:
    """An azure-core TokenCredential that presents an openvod bearer token.

    ``AzureMediaServices(StaticTokenCredential(token), subscription_id,
    base_url="https://127.0.0.1:8080", connection_verify="openvod-data/tls/cert.pem")``
    """

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The same token for every scope; valid for a day from each call."""
        return AccessToken(self.token, int(time.time()) + 86400)
