"""The management API application."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from openvod import __version__
from openvod.api.bodies import install_body_schemas
from openvod.api.errors import install_error_handlers
from openvod.api.paths import CanonicalPathMiddleware
from openvod.api.routes_filters import router as filters_router
from openvod.api.routes_index import router as index_router
from openvod.api.routes_keys import router as keys_router
from openvod.api.routes_media import router as media_router
from openvod.api.routes_publish import router as publish_router
from openvod.context import Context


def create_api_app(ctx: Context) -> FastAPI:
    """The AMS v3 management API (plus /healthz) over a context."""
    app = FastAPI(title="openvod", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.ctx = ctx
    app.state.ready = True
    install_error_handlers(app)
    app.include_router(media_router)
    app.include_router(publish_router)
    app.include_router(keys_router)
    app.include_router(index_router)
    app.include_router(filters_router)
    install_body_schemas(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """200 once every component is ready."""
        ok = bool(app.state.ready)
        return JSONResponse({"status": "ok" if ok else "starting"}, status_code=200 if ok else 503)

    app.add_middleware(CanonicalPathMiddleware)
    return app
