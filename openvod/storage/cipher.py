"""Storage encryption's file format: AES-256-CTR with a random 64-bit nonce per file.

A storage-encrypted file is a 16-byte header followed by the ciphertext, which is
exactly as long as the plaintext::

    offset  size  field
    0       4     magic ``b"OVSE"``
    4       1     format version, 1
    5       3     zero
    8       8     nonce: random per file (the file's "initialization vector")
    16      n     AES-256-CTR(asset key, counter block = nonce || block index)

The 128-bit counter block of plaintext byte ``i`` is the nonce (big-endian, high 64
bits) followed by ``i // 16`` (big-endian, low 64 bits), so any byte range decrypts on
its own: no byte before it is read. This is the counter layout AMS's storage
encryption used (a 64-bit IV per file, the block counter in the low half).

An uploaded block (Put Block) waits in staging as a *sealed block*: the same header
with magic ``b"OVSB"``, its ciphertext under its own nonce, then its plaintext length
as 8 big-endian bytes, so the blocks of a committed list can be told apart from the
end backwards (:func:`block_bounds`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from openvod.errors import StorageError

MAGIC = b"OVSE"
BLOCK_MAGIC = b"OVSB"
VERSION = 1
HEADER_BYTES = 16
TRAILER_BYTES = 8
KEY_BYTES = 32
NONCE_BYTES = 8
_AES_BLOCK = 16


def make_header(nonce: bytes, magic: bytes = MAGIC) -> bytes:
    """The 16-byte header of a file (or sealed block) encrypted under ``nonce``."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError("the nonce is 8 bytes")
    return magic + bytes([VERSION, 0, 0, 0]) + nonce


def parse_header(header: bytes, magic: bytes = MAGIC) -> bytes:
    """The nonce of a header; StorageError if it is not one of ours."""
    if len(header) < HEADER_BYTES or header[:4] != magic or header[4] != VERSION:
        raise StorageError("not a storage-encrypted file (bad header)")
    return bytes(header[8:HEADER_BYTES])


def new_nonce() -> bytes:
    """A fresh random 64-bit nonce."""
    return os.urandom(NONCE_BYTES)


def keystream_cipher(key: bytes, nonce: bytes, offset: int) -> CipherContext:
    """An AES-CTR context positioned at plaintext byte ``offset`` of a file."""
    if len(key) != KEY_BYTES:
        raise ValueError("the asset key is 32 bytes")
    block, skip = divmod(offset, _AES_BLOCK)
    counter = nonce + block.to_bytes(8, "big")
    context = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    if skip:
        context.update(bytes(skip))  # advance into the block
    return context


def crypt_at(key: bytes, nonce: bytes, offset: int, data: bytes | memoryview) -> bytes:
    """Encrypt or decrypt (CTR is symmetric) ``data`` found at plaintext ``offset``."""
    if not data:
        return b""
    return keystream_cipher(key, nonce, offset).update(data)


@dataclass(frozen=True)
class BlockBounds:
    """Where one sealed block sits in a concatenation of sealed blocks."""

    start: int
    """Offset of its header."""
    nonce: bytes
    size_bytes: int
    """Its plaintext (and ciphertext) length."""

    @property
    def data_start(self) -> int:
        """Offset of its ciphertext."""
        return self.start + HEADER_BYTES


def block_bounds(total_bytes: int, read: Callable[[int, int], bytes]) -> list[BlockBounds]:
    """The sealed blocks of a file of ``total_bytes``, in order, read from the end back.

    ``read(offset, size)`` reads the file. StorageError if it is not a clean
    sequence of sealed blocks.
    """
    bounds: list[BlockBounds] = []
    end = total_bytes
    while end > 0:
        if end < HEADER_BYTES + TRAILER_BYTES:
            raise StorageError("a sealed block list is cut short")
        size = int.from_bytes(read(end - TRAILER_BYTES, TRAILER_BYTES), "big")
        start = end - TRAILER_BYTES - size - HEADER_BYTES
        if start < 0:
            raise StorageError("a sealed block is longer than the list")
        nonce = parse_header(read(start, HEADER_BYTES), BLOCK_MAGIC)
        bounds.append(BlockBounds(start, nonce, size))
        end = start
    bounds.reverse()
    return bounds
