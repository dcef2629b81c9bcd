"""openvod's HTTP/1.1 server for every listener (ASGI, zero-copy sends, hardened limits)."""

from openvod.httpd.limits import HttpLimits
from openvod.httpd.server import serve, serve_forever

__all__ = ["HttpLimits", "serve", "serve_forever"]
