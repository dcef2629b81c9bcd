"""HLS SAMPLE-AES for MPEG-TS: Apple's "MPEG-2 Stream Encryption Format for HTTP Live Streaming".

Only the coded slices and the audio frames are encrypted, with AES-128-CBC
and the key's IV (``#EXT-X-KEY`` ``IV=``), the chain restarting with that IV
for every protected unit; everything else (parameter sets, SEI, delimiters,
ADTS headers, PES and TS framing) stays clear.

- H.264: NAL units of type 1 (non-IDR slice) and 5 (IDR slice) longer than 48
  bytes. The first 32 bytes (the NAL header byte and 31 more) stay clear;
  then one 16-byte block is encrypted and up to 144 bytes (nine blocks) left
  clear, over and over, a block being encrypted only while more than 16 bytes
  remain, so the unit's tail (a partial block, or a last whole one) is always
  clear. The unit is encrypted as it is stored (emulation prevention bytes
  included), then emulation prevention bytes are inserted into the result
  so no start code appears inside it; a player removes them all before
  decrypting. An encrypted unit can therefore grow by a few bytes.
- AAC (ADTS): after the ADTS header, 16 bytes stay clear, the following whole
  16-byte blocks are encrypted, the last partial block stays clear; frame sizes
  do not change.

Pure: bytes in, bytes out. :func:`decrypt_nal_unit` and :func:`decrypt_aac_frame`
are the player's side, for checking.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.errors import MediaError
from openvod.media.avc import scan_nal_units
from openvod.media.crypto.sample_cipher import VIDEO_PATTERN, check_key
from openvod.media.crypto.subsamples import AES_BLOCK

ENCRYPTED_NAL_TYPES = (1, 5)  # coded slice of a non-IDR / an IDR picture
NAL_CLEAR_LEADER = 32  # the NAL header byte and 31 bytes after it
NAL_MIN_ENCRYPTED_SIZE = 49  # units of 48 bytes or fewer stay clear
AUDIO_CLEAR_LEADER = 16  # after the ADTS header
_NEEDS_ESCAPE = re.compile(b"\x00\x00(?=[\x00-\x03])")
_ESCAPED = re.compile(b"\x00\x00\x03")
Int64Array = npt.NDArray[np.int64]


def _check_iv(iv: bytes) -> None:
    if len(iv) != AES_BLOCK:
        raise ValueError("SAMPLE-AES IVs are 16 bytes")


def add_emulation_prevention(data: bytes | bytearray) -> bytes:
    """``data`` with 0x03 inserted after every two zero bytes followed by 0x00-0x03
    (H.264 7.4.1), so that it holds no start code prefix."""
    return _NEEDS_ESCAPE.sub(b"\x00\x00\x03", data)


def remove_emulation_prevention(data: bytes | bytearray) -> bytes:
    """``data`` without the 0x03 that follows every two zero bytes (the inverse)."""
    return _ESCAPED.sub(b"\x00\x00", data)


def is_encrypted_nal(nal: bytes | memoryview) -> bool:
    """Whether SAMPLE-AES encrypts this (escaped) H.264 NAL unit: a slice longer than 48 bytes."""
    return len(nal) >= NAL_MIN_ENCRYPTED_SIZE and nal[0] & 0x1F in ENCRYPTED_NAL_TYPES


class _RestartingChain:
    """AES-128-CBC encryption that restarts from ``iv`` for every unit, on one cipher
    context: the first block of a unit is fed XORed with ``iv`` and the previous
    ciphertext block, so the context's running chain cancels out (creating a context
    per NAL unit or audio frame costs more than encrypting it)."""

    def __init__(self, key: bytes, iv: bytes) -> None:
        self._encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        self._iv = np.frombuffer(iv, dtype=np.uint8)
        self._last = self._iv  # the context's chain value

    def encrypt(self, blocks: npt.NDArray[np.uint8]) -> None:
        """Encrypt a (n, 16) array of blocks (a view into a unit) in place, chained
        from the IV."""
        if not blocks.size:
            return
        plain = blocks.copy()
        plain[0] ^= self._last ^ self._iv
        done = np.frombuffer(self._encryptor.update(plain.tobytes()), dtype=np.uint8)
        blocks[:] = done.reshape(-1, AES_BLOCK)
        self._last = done[-AES_BLOCK:]


def _nal_pattern_blocks(nal: bytearray) -> npt.NDArray[np.uint8]:
    """The blocks SAMPLE-AES encrypts in a NAL unit: every tenth whole block after the
    32-byte leader, of all but the unit's last byte (so a block is encrypted only while
    more than 16 bytes remain), as a writable view."""
    region = np.frombuffer(nal, dtype=np.uint8)[NAL_CLEAR_LEADER : len(nal) - 1]
    whole = len(region) // AES_BLOCK
    period = VIDEO_PATTERN.crypt + VIDEO_PATTERN.skip
    return region[: whole * AES_BLOCK].reshape(whole, AES_BLOCK)[::period]


def encrypt_nal_unit(nal: bytes | memoryview, key: bytes, iv: bytes) -> bytes:
    """One H.264 NAL unit (without start code or length prefix) as SAMPLE-AES carries it:
    encrypted and re-escaped if it is a slice longer than 48 bytes, else unchanged."""
    check_key(key)
    _check_iv(iv)
    if not is_encrypted_nal(nal):
        return bytes(nal)
    return _encrypt_nal(nal, _RestartingChain(key, iv))


def _encrypt_nal(nal: bytes | memoryview, chain: _RestartingChain) -> bytes:
    unit = bytearray(nal)
    chain.encrypt(_nal_pattern_blocks(unit))
    return add_emulation_prevention(unit)


def decrypt_nal_unit(nal: bytes | memoryview, key: bytes, iv: bytes) -> bytes:
    """The clear NAL unit of one :func:`encrypt_nal_unit` made (what a player does)."""
    check_key(key)
    _check_iv(iv)
    if not is_encrypted_nal(nal):
        return bytes(nal)
    unit = bytearray(remove_emulation_prevention(bytes(nal)))
    _cbc_decrypt(key, iv, _nal_pattern_blocks(unit))
    return bytes(unit)


def _cbc_decrypt(key: bytes, iv: bytes, blocks: npt.NDArray[np.uint8]) -> None:
    """Decrypt a (n, 16) array of blocks (a view into a unit) in place, chained from ``iv``."""
    if blocks.size:
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        done = decryptor.update(blocks.tobytes())
        blocks[:] = np.frombuffer(done, dtype=np.uint8).reshape(-1, AES_BLOCK)


def encrypt_avc_samples(
    data: bytes | memoryview,
    sizes: npt.NDArray[np.integer],
    nal_length_size: int,
    key: bytes,
    iv: bytes,
) -> tuple[bytes, Int64Array]:
    """Consecutive length-prefixed H.264 samples with their slices SAMPLE-AES encrypted:
    the new sample data (length prefixes rewritten) and the new size of each sample.

    Raises :class:`~openvod.errors.MediaError` for malformed samples or an encrypted
    unit too long for its length prefix.
    """
    check_key(key)
    _check_iv(iv)
    sample_sizes = np.asarray(sizes, dtype=np.int64)
    ends = sample_sizes.cumsum()
    if (int(ends[-1]) if ends.size else 0) != len(data):
        raise MediaError("video sample sizes do not add up to the data given")
    nals = scan_nal_units(np.frombuffer(data, dtype=np.uint8), ends - sample_sizes, ends,
                          nal_length_size, "avc")  # fmt: skip
    chosen = np.isin(nals.nal_type, ENCRYPTED_NAL_TYPES) & (nals.size >= NAL_MIN_ENCRYPTED_SIZE)
    view = memoryview(data)
    pieces: list[bytes | memoryview] = []
    new_sizes = sample_sizes.copy()
    at = 0
    limit = 1 << (8 * nal_length_size)
    chain = _RestartingChain(key, iv)
    for sample, position, size in zip(nals.sample[chosen].tolist(), nals.position[chosen].tolist(),
                                      nals.size[chosen].tolist(), strict=True):  # fmt: skip
        start = position + nal_length_size
        unit = _encrypt_nal(view[start : start + size], chain)
        if len(unit) >= limit:
            raise MediaError("an encrypted NAL unit does not fit its length prefix")
        pieces += [view[at:position], len(unit).to_bytes(nal_length_size, "big"), unit]
        new_sizes[sample] += len(unit) - size
        at = start + size
    pieces.append(view[at:])
    return b"".join(pieces), new_sizes


def encrypt_aac_samples(
    data: bytes | memoryview, sizes: npt.NDArray[np.integer], key: bytes, iv: bytes
) -> bytes:
    """Consecutive raw AAC frames (no ADTS header) SAMPLE-AES encrypted, sizes unchanged:
    16 bytes clear, then whole blocks in CBC from ``iv``, the partial block clear."""
    check_key(key)
    _check_iv(iv)
    frame_sizes = np.asarray(sizes, dtype=np.int64)
    if int(frame_sizes.sum()) != len(data):
        raise MediaError("audio sample sizes do not add up to the data given")
    out = bytearray(data)
    buffer = np.frombuffer(out, dtype=np.uint8)
    chain = _RestartingChain(key, iv)
    at = 0
    for size in frame_sizes.tolist():
        chain.encrypt(_aac_blocks(buffer[at : at + size]))
        at += size
    return bytes(out)


def decrypt_aac_frame(frame: bytes | memoryview, key: bytes, iv: bytes) -> bytes:
    """The clear raw AAC frame of one SAMPLE-AES frame (ADTS header removed)."""
    check_key(key)
    _check_iv(iv)
    out = bytearray(frame)
    _cbc_decrypt(key, iv, _aac_blocks(np.frombuffer(out, dtype=np.uint8)))
    return bytes(out)


def _aac_blocks(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The whole blocks after the 16 clear bytes of a raw AAC frame, as a (n, 16) view."""
    whole = max(0, (frame.size - AUDIO_CLEAR_LEADER) // AES_BLOCK)
    region = frame[AUDIO_CLEAR_LEADER : AUDIO_CLEAR_LEADER + whole * AES_BLOCK]
    return region.reshape(whole, AES_BLOCK)
