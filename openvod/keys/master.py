"""The master key: wraps every secret openvod keeps at rest (asset storage keys, content
keys, content key policy secrets).

A 256-bit key, made once and kept in the data folder (``keys/master.key``, mode 0600),
or given by configuration (``OPENVOD_MASTER_KEY``, base64). Secrets are wrapped with
AES-256-GCM under a fresh 96-bit nonce; the wrapped form is ``b"ovk1" + nonce +
ciphertext + tag``, and an optional associated context (say, the content key id) binds a
wrapped secret to what it belongs to, so a wrapped value copied onto another record does
not unwrap.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openvod.errors import ConfigurationError

_MAGIC = b"ovk1"
_NONCE_BYTES = 12
KEY_BYTES = 32


class UnwrapError(ValueError):
    """A wrapped secret that this master key did not wrap (or that was altered)."""


class MasterKey:
    """Wraps and unwraps secrets with AES-256-GCM; never logs or shows the key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"The master key must be {KEY_BYTES} bytes.")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"

    def wrap(self, secret: bytes, context: bytes = b"") -> bytes:
        """``secret`` encrypted and authenticated, bound to ``context``."""
        nonce = os.urandom(_NONCE_BYTES)
        return _MAGIC + nonce + self._aead.encrypt(nonce, secret, context)

    def unwrap(self, wrapped: bytes, context: bytes = b"") -> bytes:
        """The secret ``wrap`` was given; UnwrapError if altered or wrapped elsewhere."""
        if not wrapped.startswith(_MAGIC) or len(wrapped) < len(_MAGIC) + _NONCE_BYTES + 16:
            raise UnwrapError("not a wrapped secret")
        nonce = wrapped[len(_MAGIC) : len(_MAGIC) + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, wrapped[len(_MAGIC) + _NONCE_BYTES :], context)
        except InvalidTag:
            raise UnwrapError("the wrapped secret does not match this master key") from None

    def wrap_text(self, secret: bytes, context: bytes = b"") -> str:
        """:meth:`wrap` as base64 text, for JSON and database columns."""
        return base64.b64encode(self.wrap(secret, context)).decode("ascii")

    def unwrap_text(self, wrapped: str, context: bytes = b"") -> bytes:
        """:meth:`unwrap` of :meth:`wrap_text`'s output."""
        try:
            raw = base64.b64decode(wrapped, validate=True)
        except (binascii.Error, ValueError):
            raise UnwrapError("not a wrapped secret") from None
        return self.unwrap(raw, context)


def load_master_key(path: Path, configured: str | None = None) -> MasterKey:
    """The configured key (base64) or the one in ``path``, made there (0600) if absent."""
    if configured:
        try:
            return MasterKey(base64.b64decode(configured, validate=True))
        except (binascii.Error, ValueError):
            raise ConfigurationError("OPENVOD_MASTER_KEY must be base64 of 32 bytes.") from None
    if path.exists():
        return MasterKey(base64.b64decode(path.read_text().strip()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(os.urandom(KEY_BYTES)).decode())
    os.replace(tmp, path)
    return MasterKey(base64.b64decode(path.read_text().strip()))
