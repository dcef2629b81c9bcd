"""The serving process of ``openvod origin``: the origin app on openvod's own HTTP server.

``openvod origin --workers N`` runs N of these (``python -m
openvod.serving.origin_process``); each builds its own context from the environment
(the CLI passes its flags down as ``OPENVOD_*`` variables) and binds the port
with ``SO_REUSEPORT``, so the kernel spreads connections over them. The
origin is stateless: any number of processes, or machines sharing the
database and storage, can serve the same assets.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from openvod.config import Settings, load_settings
from openvod.httpd.protocol import AsgiApp


def settings_from_environment() -> Settings:
    """The settings the CLI handed down (``OPENVOD_*`` and ``OPENVOD_CONFIG``)."""
    config = os.environ.get("OPENVOD_CONFIG")
    return load_settings(Path(config) if config else None)


def app_from_environment() -> AsgiApp:
    """The origin app over a context built from OPENVOD_* variables."""
    from openvod.context import open_context
    from openvod.keydelivery.app import with_key_delivery
    from openvod.origin.app import create_origin_app
    from openvod.serving.tuning import tune_gc, tune_malloc

    tune_malloc()
    # The serving processes never migrate: `openvod origin` did it once before starting them.
    ctx = open_context(settings_from_environment(), run_migrations=False)
    # Players fetch keys from the origin they stream from: key delivery is mounted here too.
    app = with_key_delivery(ctx, create_origin_app(ctx))
    tune_gc()  # after the app is built: what start-up made stays out of collections
    return app


def main() -> None:
    """Serve the origin in this process until SIGINT/SIGTERM."""
    from openvod.httpd import serve_forever
    from openvod.serving.limits import http_limits

    settings = settings_from_environment()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    serve_forever(app_from_environment, settings.host, settings.port, reuse_port=True,
                  limits=http_limits(settings))


if __name__ == "__main__":
    main()
