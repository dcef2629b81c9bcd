"""HLS AES-128 whole-segment encryption (RFC 8216 5.2, 4.3.2.4).

Each segment (TS or fMP4, init segments included) is encrypted whole with
AES-128-CBC and PKCS#7 padding. Without an ``IV`` attribute in
``#EXT-X-KEY`` the IV is the segment's media sequence number as a 16-byte
big-endian integer. HLS SAMPLE-AES for fMP4 is 'cbcs'
(:mod:`openvod.media.crypto.cenc`).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.media.crypto.sample_cipher import check_key

BLOCK = 16


def media_sequence_iv(sequence_number: int) -> bytes:
    """The IV a player uses when ``#EXT-X-KEY`` has none: the media sequence number."""
    if not 0 <= sequence_number < 1 << 128:
        raise ValueError("media sequence numbers are non-negative")
    return sequence_number.to_bytes(BLOCK, "big")


def iv_attribute(iv: bytes) -> str:
    """The ``IV`` attribute value of ``#EXT-X-KEY`` (``0x`` and 32 hex digits)."""
    if len(iv) != BLOCK:
        raise ValueError("HLS IVs are 16 bytes")
    return "0x" + iv.hex().upper()


def encrypted_size(clear_size: int) -> int:
    """The size of an AES-128 segment of ``clear_size`` bytes (PKCS#7 always pads)."""
    return (clear_size // BLOCK + 1) * BLOCK


def encrypt_segment(data: bytes | memoryview, key: bytes, iv: bytes) -> bytes:
    """The AES-128-CBC, PKCS#7-padded ciphertext of a whole segment."""
    check_key(key)
    if len(iv) != BLOCK:
        raise ValueError("HLS IVs are 16 bytes")
    size = len(data)
    pad = BLOCK - size % BLOCK  # PKCS#7: 1 to 16 bytes, each the count
    clear = bytearray(size + pad)  # one copy of the segment, padded in place
    clear[:size] = data
    clear[size:] = bytes((pad,)) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    out = encryptor.update(clear)
    encryptor.finalize()  # whole blocks: nothing left
    return out


def encrypt_media_segment(
    data: bytes | memoryview, key: bytes, sequence_number: int, iv: bytes | None = None
) -> bytes:
    """Encrypt segment ``sequence_number``; its IV is ``iv`` or the sequence number."""
    return encrypt_segment(data, key, media_sequence_iv(sequence_number) if iv is None else iv)
