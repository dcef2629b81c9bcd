"""The HTTP server limits of a serving process, from its settings."""

from __future__ import annotations

from openvod.config import Settings
from openvod.httpd.limits import HttpLimits


def http_limits(settings: Settings, *, max_body_bytes: int | None = None) -> HttpLimits:
    """The listener limits the settings ask for (``max_body_bytes`` overrides the setting,
    for the blob listener whose operations check their own limits)."""
    return HttpLimits(
        max_connections=settings.max_connections,
        header_timeout_seconds=settings.header_timeout_seconds,
        body_timeout_seconds=settings.body_timeout_seconds,
        send_timeout_seconds=settings.send_timeout_seconds,
        keepalive_timeout_seconds=settings.keepalive_timeout_seconds,
        max_header_bytes=settings.max_header_bytes,
        max_body_bytes=settings.max_body_bytes if max_body_bytes is None else max_body_bytes,
        graceful_seconds=settings.graceful_seconds,
    )
