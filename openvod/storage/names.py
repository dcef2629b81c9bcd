"""Container and blob name rules, and the only way a name becomes a filesystem path.

Container names follow Azure: 3-63 characters, lowercase letters, digits and
single hyphens, starting and ending with a letter or digit.

Blob names follow Azure where a filesystem can (up to 1024 characters, '/'
makes virtual folders) and are stricter where a filesystem needs it: no empty,
'.' or '..' segments, no leading '/', no backslash, no NUL or other control
characters, and at most 255 UTF-8 bytes per segment.
"""

from __future__ import annotations

import re
from pathlib import Path

from openvod.errors import InvalidNameError, StorageError

MAX_BLOB_NAME_CHARS = 1024
MAX_SEGMENT_BYTES = 255

_CONTAINER_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# C0 controls, DEL and the backslash: never in a blob name.
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def validate_container_name(container: str) -> str:
    """Return ``container`` unchanged if Azure would accept it, else raise InvalidNameError."""
    if not isinstance(container, str) or not 3 <= len(container) <= 63:
        raise InvalidNameError(
            f"container name must be 3-63 characters: {container!r}",
            code="InvalidResourceName",
        )
    if _CONTAINER_RE.fullmatch(container) is None:
        raise InvalidNameError(
            "container name may hold only lowercase letters, digits and single hyphens, "
            f"and must start and end with a letter or digit: {container!r}",
            code="InvalidResourceName",
        )
    return container


def blob_segments(name: str) -> list[str]:
    """Split a blob name into its '/'-separated segments, raising InvalidNameError if unsafe."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError("blob name must not be empty", code="InvalidResourceName")
    if len(name) > MAX_BLOB_NAME_CHARS:
        raise InvalidNameError(
            f"blob name is longer than {MAX_BLOB_NAME_CHARS} characters",
            code="InvalidResourceName",
        )
    bad = _FORBIDDEN_CHARS.search(name)
    if bad is not None:
        raise InvalidNameError(
            f"blob name contains a forbidden character {bad.group()!r}: {name!r}",
            code="InvalidResourceName",
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidNameError(
            f"blob name is not valid Unicode text: {name!r}", code="InvalidResourceName"
        ) from exc
    segments = name.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidNameError(
                f"blob name has an empty, '.' or '..' segment: {name!r}",
                code="InvalidResourceName",
            )
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidNameError(
                f"blob name has a segment longer than {MAX_SEGMENT_BYTES} bytes: {name!r}",
                code="InvalidResourceName",
            )
    return segments


def validate_blob_name(name: str) -> str:
    """Return ``name`` unchanged if it is a safe blob name, else raise InvalidNameError."""
    blob_segments(name)
    return name


def is_valid_blob_name(name: str) -> bool:
    """True if ``name`` passes :func:`validate_blob_name`."""
    try:
        blob_segments(name)
    except InvalidNameError:
        return False
    return True


def contained_path(base: Path, segments: list[str]) -> Path:
    """Join validated ``segments`` under ``base`` and prove the result stays there.

    ``base`` must already be fully resolved. The joined path is resolved too
    (following any symlink that exists on disk) and must equal the plain join:
    a symlink anywhere below ``base`` — even one pointing elsewhere inside the
    store — is refused, so one container can never reach another's files.
    """
    for segment in segments:
        if segment in ("", ".", "..") or "/" in segment or "\\" in segment or "\x00" in segment:
            raise InvalidNameError(f"unsafe path segment {segment!r}", code="InvalidResourceName")
    joined = base.joinpath(*segments)
    resolved = joined.resolve()
    if resolved != joined or not resolved.is_relative_to(base):
        raise StorageError(f"path {joined} leaves its container (symlink?)")
    return joined
