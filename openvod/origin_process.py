"""A standalone streaming origin for ``openvod origin --workers N``.

Each uvicorn worker process builds its own context from the environment (the
CLI passes its flags down as ``OPENVOD_*`` variables): the origin is stateless,
so any number of processes (or machines sharing the database and storage) can
serve the same assets.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import ASGIApp

from openvod.config import load_settings
from openvod.context import open_context


def app_from_environment() -> ASGIApp:
    """uvicorn factory: the origin app over a context built from OPENVOD_* variables."""
    from openvod.origin.app import create_origin_app
    from openvod.process import tune_malloc

    tune_malloc()

    config = os.environ.get("OPENVOD_CONFIG")
    settings = load_settings(Path(config) if config else None)
    # The serving processes never migrate: `openvod origin` did it once before forking.
    return create_origin_app(open_context(settings, run_migrations=False))
