"""A small, fast HTTP/1.1 server for the streaming origin (ASGI, with zero-copy sends)."""

from openvod.httpd.server import serve, serve_forever

__all__ = ["serve", "serve_forever"]
