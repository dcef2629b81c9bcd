"""The ONE table mapping domain errors to HTTP statuses and ARM error bodies."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openvod import errors

log = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[errors.OpenvodError], int]] = [
    (errors.AuthenticationError, 401),
    (errors.AuthorizationError, 403),
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.InvalidRequestError, 400),
    (errors.MediaError, 400),
]
_HTTP_CODES = {
    400: "BadRequest",
    401: "AuthenticationFailed",
    403: "AuthorizationFailed",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
}


def arm_error(status: int, code: str, message: str) -> JSONResponse:
    """An ARM error response: ``{"error": {"code", "message"}}``."""
    headers = {"WWW-Authenticate": 'Bearer realm="openvod"'} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def status_for(exc: errors.OpenvodError) -> int:
    """The HTTP status of a domain error."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 500


def install_error_handlers(app: FastAPI) -> None:
    """Make every error an ARM-shaped body."""

    @app.exception_handler(errors.OpenvodError)
    async def _domain(_: Request, exc: errors.OpenvodError) -> JSONResponse:
        status = status_for(exc)
        if status == 500:
            log.exception("internal error", exc_info=exc)
        return arm_error(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return arm_error(400, "BadRequest", f"Invalid request at {where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "Error")
        message = str(exc.detail) if exc.detail else code
        if exc.status_code == 404:
            message = "The requested resource or operation was not found."
        return arm_error(exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return arm_error(500, "InternalError", "An internal error occurred; see the server log.")
