"""The openvod exception hierarchy.

Every error also inherits from the built-in it resembles, so callers that do
not know openvod can still catch it sensibly (as PyAV does)::

    OpenvodError
    ├── InvalidRequestError (ValueError)      -> 400 BadRequest
    │   ├── InvalidNameError                  -> 400 BadRequest (names with '..', '/')
    │   └── InvalidPresetError                -> 400 BadRequest (transform outputs)
    ├── AuthenticationError (PermissionError) -> 401
    ├── AuthorizationError (PermissionError)  -> 403
    │   └── SasError                          -> 403 (bad/expired/insufficient SAS)
    ├── NotFoundError (LookupError)           -> 404 ResourceNotFound
    ├── ConflictError                         -> 409 Conflict
    ├── MediaError (ValueError)               -> malformed or unsupported media
    │   ├── EncodeError                       -> a job output that failed
    │   └── NoAudioError                      -> indexing an input without an audio track
    ├── UnsupportedLanguageError (ValueError) -> the speech model cannot transcribe the language
    ├── SpeechModelError (RuntimeError)       -> the speech model cannot be found or loaded
    ├── ConfigurationError (ValueError)       -> a setting that cannot be used (e.g. master key)
    ├── JobCanceledError                      -> the job was canceled while running
    └── StorageError (OSError)                -> the blob store failed
"""

from __future__ import annotations


class OpenvodError(Exception):
    """Base of every error openvod raises on purpose.

    ``code`` is the ARM error code the HTTP layers put in error bodies.
    """

    code: str = "InternalError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidRequestError(OpenvodError, ValueError):
    """The request is malformed or names something invalid."""

    code = "BadRequest"


class InvalidNameError(InvalidRequestError):
    """A resource or blob name is not allowed (e.g. contains '..' or '/')."""

    code = "BadRequest"


class InvalidPresetError(InvalidRequestError):
    """A transform's preset cannot be understood or is inconsistent."""

    code = "BadRequest"


class AuthenticationError(OpenvodError, PermissionError):
    """No credential, or one that is not valid."""

    code = "AuthenticationFailed"


class AuthorizationError(OpenvodError, PermissionError):
    """A valid credential that does not allow this action."""

    code = "AuthorizationFailed"


class SasError(AuthorizationError):
    """A shared access signature that is malformed, expired, tampered with or lacks a permission."""

    code = "AuthenticationFailed"


class NotFoundError(OpenvodError, LookupError):
    """The named resource does not exist."""

    code = "ResourceNotFound"


class ConflictError(OpenvodError):
    """The request conflicts with the current state of a resource."""

    code = "Conflict"


class MediaError(OpenvodError, ValueError):
    """Media that is malformed, truncated or unsupported."""

    code = "InvalidMedia"


class EncodeError(MediaError):
    """An encode failed; ``message`` is meant for a person."""

    code = "ConfigurationUnsupported"


class JobCanceledError(OpenvodError):
    """The running job was canceled."""

    code = "Canceled"


class StorageError(OpenvodError, OSError):
    """The blob store failed to read or write."""

    code = "StorageError"


class NoAudioError(MediaError):
    """Indexing was asked of an input that has no audio track."""

    code = "ContentUnsupported"


class UnsupportedLanguageError(OpenvodError, ValueError):
    """The configured speech model cannot transcribe the requested language."""

    code = "ConfigurationUnsupported"


class SpeechModelError(OpenvodError, RuntimeError):
    """The speech-to-text model cannot be found or loaded (never downloaded at run time)."""

    code = "ConfigurationUnsupported"


class ConfigurationError(OpenvodError, ValueError):
    """A setting that cannot be used as given (e.g. a master key of the wrong size)."""

    code = "ConfigurationInvalid"
