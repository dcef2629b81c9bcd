"""Sample encryption for the 'cenc' and 'cbcs' schemes (ISO/IEC 23001-7 10.1, 10.4).

- 'cenc': AES-128-CTR. The 8- or 16-byte IV is the initial counter block
  (an 8-byte IV is followed by 8 zero bytes); the counter runs on across the
  protected ranges of one sample, as if they were one buffer.
- 'cbcs': AES-128-CBC with a pattern (1 block encrypted, 9 left clear, for
  video) and a constant 16-byte IV. The chain restarts with the IV at every
  subsample and links only the encrypted blocks; a partial block at the end
  of a protected range stays clear. A sample without a map (audio) is
  encrypted in whole blocks, the remainder left clear.

Sizes never change: a sample encrypts to as many bytes, so fragment
layouts planned for the clear samples still hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.media.crypto.subsamples import AES_BLOCK, Scheme, protected_ranges
from openvod.media.mp4.protection_boxes import Subsample

KEY_SIZE = 16
_BATCH_BELOW_BYTES = 8192  # protected bytes under which a sample's keystream is batched


@dataclass(frozen=True)
class Pattern:
    """The 'cbcs' pattern: encrypt ``crypt`` blocks, skip ``skip`` blocks (0:0 = every block)."""

    crypt: int = 1
    skip: int = 9


VIDEO_PATTERN = Pattern(1, 9)
WHOLE_BLOCKS = Pattern(0, 0)


def check_key(key: bytes) -> None:
    """Raise ValueError unless ``key`` is an AES-128 key."""
    if len(key) != KEY_SIZE:
        raise ValueError("content keys are 16 bytes (AES-128)")


def counter_block(iv: bytes) -> bytes:
    """The initial CTR counter block of a 'cenc' IV (8 bytes are followed by zeros)."""
    if len(iv) not in (8, 16):
        raise ValueError("'cenc' IVs are 8 or 16 bytes")
    return iv.ljust(AES_BLOCK, b"\0")


def cenc_crypt_sample(
    key: bytes, iv: bytes, sample: bytearray | memoryview, subsamples: list[Subsample] | None
) -> None:
    """Encrypt (or decrypt: CTR is symmetric) one sample in place under 'cenc'."""
    check_key(key)
    view = memoryview(sample)
    cipher = Cipher(algorithms.AES(key), modes.CTR(counter_block(iv))).encryptor()
    if subsamples is None:
        view[:] = cipher.update(view)
        return
    for at, size in protected_ranges(subsamples):
        view[at : at + size] = cipher.update(view[at : at + size])


def _pattern_blocks(region: memoryview, pattern: Pattern) -> np.ndarray:
    """A (blocks, 16) view of the blocks of ``region`` the pattern encrypts."""
    whole = len(region) // AES_BLOCK
    flat = np.frombuffer(region, dtype=np.uint8, count=whole * AES_BLOCK)
    blocks = flat.reshape(whole, AES_BLOCK)
    if pattern.crypt == 0 or pattern.skip == 0:
        return blocks
    period = pattern.crypt + pattern.skip
    if pattern.crypt == 1:
        return blocks[::period]
    index = np.arange(whole)
    return blocks[index % period < pattern.crypt]


def cbcs_crypt_sample(
    key: bytes,
    constant_iv: bytes,
    sample: bytearray | memoryview,
    subsamples: list[Subsample] | None,
    pattern: Pattern = VIDEO_PATTERN,
    *,
    decrypt: bool = False,
) -> None:
    """Encrypt (or with ``decrypt`` decrypt) one sample in place under 'cbcs'."""
    check_key(key)
    if len(constant_iv) != AES_BLOCK:
        raise ValueError("'cbcs' constant IVs are 16 bytes")
    view = memoryview(sample)
    algorithm = algorithms.AES(key)
    if subsamples is None:  # whole blocks, one chain: no pattern to pick blocks by
        cipher = Cipher(algorithm, modes.CBC(constant_iv))
        crypt = cipher.decryptor() if decrypt else cipher.encryptor()
        whole = len(view) - len(view) % AES_BLOCK
        if whole:
            view[:whole] = crypt.update(view[:whole])
        return
    ranges = protected_ranges(subsamples)
    for at, size in ranges:
        region = view[at : at + size]
        chosen = _pattern_blocks(region, pattern)
        if not chosen.size:
            continue
        cipher = Cipher(algorithm, modes.CBC(constant_iv))
        crypt = cipher.decryptor() if decrypt else cipher.encryptor()
        done = np.frombuffer(crypt.update(chosen.tobytes()), dtype=np.uint8)
        writable = np.frombuffer(region, dtype=np.uint8)
        _scatter(writable, done.reshape(-1, AES_BLOCK), len(region) // AES_BLOCK, pattern)


def _scatter(region: np.ndarray, blocks: np.ndarray, whole: int, pattern: Pattern) -> None:
    """Write the processed pattern blocks back where :func:`_pattern_blocks` took them."""
    grid = region[: whole * AES_BLOCK].reshape(whole, AES_BLOCK)
    if pattern.crypt == 0 or pattern.skip == 0:
        grid[:] = blocks
    elif pattern.crypt == 1:
        grid[:: pattern.crypt + pattern.skip] = blocks
    else:
        grid[np.arange(whole) % (pattern.crypt + pattern.skip) < pattern.crypt] = blocks


def crypt_sample(
    scheme: Scheme,
    key: bytes,
    iv: bytes,
    sample: bytearray | memoryview,
    subsamples: list[Subsample] | None,
    pattern: Pattern = VIDEO_PATTERN,
) -> None:
    """Encrypt one sample in place under ``scheme`` (``iv``: per-sample or constant IV)."""
    if scheme == "cenc":
        cenc_crypt_sample(key, iv, sample, subsamples)
    else:
        cbcs_crypt_sample(key, iv, sample, subsamples, pattern)


def encrypt_sample(
    scheme: Scheme,
    key: bytes,
    iv: bytes,
    sample: bytes,
    subsamples: list[Subsample] | None,
    pattern: Pattern = VIDEO_PATTERN,
) -> bytes:
    """The encrypted bytes of one sample (same length); see :func:`crypt_sample`."""
    out = bytearray(sample)
    crypt_sample(scheme, key, iv, out, subsamples, pattern)
    return bytes(out)


def ctr_keystream(key: bytes, ivs: list[bytes], lengths: npt.NDArray[np.int64]) -> np.ndarray:
    """The 'cenc' keystreams of many samples at once, back to back (sample ``i``: the first
    ``lengths[i]`` bytes of the CTR keystream from its IV's counter block).

    One AES-ECB call over every counter block instead of one CTR cipher per
    sample; the counter is the whole 128-bit block, as CTR mode increments it.
    """
    check_key(key)
    blocks = -(-lengths // AES_BLOCK)
    total = int(blocks.sum())
    if not total:
        return np.zeros(0, dtype=np.uint8)
    firsts = np.cumsum(blocks) - blocks
    counters = np.frombuffer(b"".join(map(counter_block, ivs)), dtype=">u8").reshape(-1, 2)
    table = np.repeat(counters.astype(np.uint64), blocks, axis=0)  # (total, 2), native order
    step = np.arange(total, dtype=np.uint64)
    step -= np.repeat(firsts.astype(np.uint64), blocks)
    low = table[:, 1]
    before = low.copy() if bool(np.any(counters[:, 1])) else None
    low += step  # wraps modulo 2**64; a wrap carries into the high half
    if before is not None:
        table[:, 0] += low < before
    if np.little_endian:
        table.byteswap(inplace=True)  # big-endian blocks (astype('>u8') is 10 times slower)
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    stream = np.frombuffer(encryptor.update(table.data.cast("B")), dtype=np.uint8)
    if bool(np.all(lengths % AES_BLOCK == 0)):
        return stream
    cuts = zip((firsts * AES_BLOCK).tolist(), lengths.tolist(), strict=True)
    return np.concatenate([stream[first : first + length] for first, length in cuts])


def cenc_crypt_samples(
    key: bytes,
    ivs: list[bytes],
    data: bytearray | memoryview,
    sizes: list[int],
    maps: list[list[Subsample]] | None,
) -> None:
    """Encrypt (or decrypt) consecutive samples lying back to back in ``data``, in place,
    under 'cenc': the same bytes as :func:`cenc_crypt_sample` on each.

    Small samples (audio, B-frames) share one batched keystream
    (:func:`ctr_keystream`); large ones get a CTR cipher each, which costs less
    than making their counter blocks.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    if maps is None:
        buffer ^= ctr_keystream(key, ivs, np.asarray(sizes, dtype=np.int64))
        return
    check_key(key)
    algorithm, view, at = algorithms.AES(key), memoryview(data), 0
    small_ivs: list[bytes] = []
    small_lengths: list[int] = []
    small_ranges: list[tuple[int, int]] = []
    for iv, size, sample_map in zip(ivs, sizes, maps, strict=True):
        ranges, protected, offset = [], 0, at
        for clear, length in sample_map:
            offset += clear
            if length:
                ranges.append((offset, length))
                protected += length
            offset += length
        at += size
        if protected < _BATCH_BELOW_BYTES:
            small_ivs.append(iv)
            small_lengths.append(protected)
            small_ranges += ranges
            continue
        cipher = Cipher(algorithm, modes.CTR(counter_block(iv))).encryptor()
        for offset, length in ranges:
            view[offset : offset + length] = cipher.update(view[offset : offset + length])
    if small_ivs:
        stream = ctr_keystream(key, small_ivs, np.asarray(small_lengths, dtype=np.int64))
        pos = 0
        for offset, length in small_ranges:
            buffer[offset : offset + length] ^= stream[pos : pos + length]
            pos += length
