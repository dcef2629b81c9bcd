"""The streaming endpoint (origin): dynamic packaging to HLS/DASH/Smooth and progressive download.

:func:`~openvod.origin.app.create_origin_app` builds the ASGI app;
:func:`~openvod.origin.app.create_root_app` puts it beside the management API
on one listener.
"""

from openvod.origin.app import create_origin_app, create_root_app

__all__ = ["create_origin_app", "create_root_app"]
