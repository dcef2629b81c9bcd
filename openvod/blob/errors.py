"""How every error the blob endpoint meets becomes an Azure error response: one table."""

from __future__ import annotations

from openvod.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    InvalidNameError,
    InvalidRequestError,
    NotFoundError,
    OpenvodError,
    StorageError,
)


class BlobServiceError(OpenvodError):
    """An Azure Blob error with its own HTTP status (416, 413, 412, 501...)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.headers = headers or {}  # extra response headers (Content-Range on a 416)


# (exception class, HTTP status, Azure code used when the error carries only a generic one)
_TABLE: list[tuple[type[OpenvodError], int, str]] = [
    (AuthorizationError, 403, "AuthenticationFailed"),
    (AuthenticationError, 403, "AuthenticationFailed"),
    (NotFoundError, 404, "ResourceNotFound"),
    (ConflictError, 409, "PathConflict"),  # ADLS Gen2 code for a file/folder clash
    (InvalidNameError, 400, "InvalidResourceName"),
    (InvalidRequestError, 400, "InvalidInput"),
    (StorageError, 500, "InternalError"),
]

_MESSAGES = {
    "BlobNotFound": "The specified blob does not exist.",
    "ContainerNotFound": "The specified container does not exist.",
    "InternalError": "The server encountered an internal error. Please retry the request.",
}


def azure_error(exc: OpenvodError) -> tuple[int, str, str]:
    """The (status, Azure error code, message) to answer ``exc`` with."""
    if isinstance(exc, BlobServiceError):
        return exc.status, exc.code, exc.message
    for kind, status, generic_code in _TABLE:
        if isinstance(exc, kind):
            code = generic_code if exc.code == type(exc).code else exc.code
            if status >= 500:
                return status, code, _MESSAGES["InternalError"]  # never leak paths
            return status, code, _MESSAGES.get(code, exc.message)
    return 500, "InternalError", _MESSAGES["InternalError"]
