"""Validation of AMS resource names (they become URL segments and container names)."""

from __future__ import annotations

import re

from openvod.errors import InvalidNameError

# AMS: asset, transform, job, locator, policy names are at most 260 characters
# and may not contain these; openvod also refuses '..' and control characters,
# since names reach URLs, blob containers and file names.
_FORBIDDEN = set('<>%&:\\?/*+\'"#|') | {chr(c) for c in range(32)}
_ENDPOINT = re.compile(r"^[a-zA-Z0-9]+(-*[a-zA-Z0-9])*$")
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")


def check_resource_name(name: str, what: str = "resource", max_length: int = 260) -> str:
    """Return ``name`` if it is a valid AMS resource name, else raise InvalidNameError."""
    if not name or len(name) > max_length:
        raise InvalidNameError(f"The {what} name must be 1 to {max_length} characters long.")
    bad = sorted({c for c in name if c in _FORBIDDEN})
    if ".." in name or name.startswith(".") or bad:
        shown = "".join(bad) or ".."
        raise InvalidNameError(
            f"The {what} name '{name}' is not valid: it may not contain {shown!r}, '..', "
            "or start with '.'."
        )
    return name


def check_endpoint_name(name: str) -> str:
    """Streaming endpoint names: letters, digits and hyphens, at most 24."""
    if len(name) > 24 or not _ENDPOINT.match(name):
        raise InvalidNameError(
            f"The streaming endpoint name '{name}' is not valid: use at most 24 letters, digits "
            "and hyphens, starting and ending with a letter or digit."
        )
    return name


def check_account_name(name: str) -> str:
    """Media services account names: 3-24 lowercase letters and digits."""
    if not _ACCOUNT.match(name):
        raise InvalidNameError(
            f"The account name '{name}' is not valid: use 3 to 24 lowercase letters and digits."
        )
    return name
