"""Sample encryption: known answers (NIST SP 800-38A), the counter and chain rules, maps."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.errors import MediaError
from openvod.media import avc
from openvod.media.crypto.protection import SequentialIvs, derive_iv_base
from openvod.media.crypto.rbsp import BitReader
from openvod.media.crypto.sample_cipher import (
    VIDEO_PATTERN,
    WHOLE_BLOCKS,
    Pattern,
    cbcs_crypt_sample,
    cenc_crypt_sample,
    cenc_crypt_samples,
    ctr_keystream,
    encrypt_sample,
)
from openvod.media.crypto.subsamples import NalSubsampleMapper, _Organizer

# NIST SP 800-38A, F.2.1 (CBC-AES128.Encrypt) and F.5.1 (CTR-AES128.Encrypt).
NIST_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
NIST_PLAIN = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172a"
    "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef"
    "f69f2445df4f9b17ad2b417be66c3710"
)
NIST_CBC_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
NIST_CBC = bytes.fromhex(
    "7649abac8119b246cee98e9b12e9197d"
    "5086cb9b507219ee95db113a917678b2"
    "73bed6b8e3c1743b7116e69e22229516"
    "3ff1caa1681fac09120eca307586e1a7"
)
NIST_CTR_IV = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
NIST_CTR = bytes.fromhex(
    "874d6191b620e3261bef6864990db6ce"
    "9806f66b7970fdff8617187bb9fffdff"
    "5ae4df3edbd5d35e5b4f09020db03eab"
    "1e031dda2fbe03d1792170a0f3009cee"
)


def test_cenc_whole_sample_is_nist_ctr() -> None:
    assert encrypt_sample("cenc", NIST_KEY, NIST_CTR_IV, NIST_PLAIN, None) == NIST_CTR
    # CTR is symmetric, and a partial last block is fine
    assert encrypt_sample("cenc", NIST_KEY, NIST_CTR_IV, NIST_CTR[:50], None) == NIST_PLAIN[:50]


def test_cenc_counter_runs_on_across_subsamples() -> None:
    # clear 5, protected 20 (ends mid-block), clear 3, protected 44: the protected bytes
    # are the NIST plaintext in order, so they encrypt to the NIST ciphertext in order.
    sample = b"H" * 5 + NIST_PLAIN[:20] + b"hdr" + NIST_PLAIN[20:]
    out = encrypt_sample("cenc", NIST_KEY, NIST_CTR_IV, sample, [(5, 20), (3, 44)])
    assert out == b"H" * 5 + NIST_CTR[:20] + b"hdr" + NIST_CTR[20:]


def test_cenc_8_byte_iv_is_followed_by_a_zero_counter() -> None:
    iv = bytes.fromhex("0102030405060708")
    want = Cipher(algorithms.AES(NIST_KEY), modes.CTR(iv + bytes(8))).encryptor().update(NIST_PLAIN)
    assert encrypt_sample("cenc", NIST_KEY, iv, NIST_PLAIN, None) == want


def test_cbcs_whole_blocks_is_nist_cbc_and_leaves_the_tail_clear() -> None:
    out = encrypt_sample("cbcs", NIST_KEY, NIST_CBC_IV, NIST_PLAIN + b"tail", None)
    assert out == NIST_CBC + b"tail"


def _blocks(count: int) -> bytes:
    return bytes(np.arange(count * 16, dtype=np.uint8) * 7 % 251)


def test_cbcs_pattern_encrypts_one_block_in_ten_chained() -> None:
    body = _blocks(25) + b"xyz"  # 25 whole blocks and a partial one
    sample = b"NALHDR" + body
    out = encrypt_sample("cbcs", NIST_KEY, NIST_CBC_IV, sample, [(6, len(body))])
    assert out[:6] == b"NALHDR"
    chosen = body[0:16] + body[160:176]  # blocks 0 and 10; block 20 too
    chosen += body[320:336]
    want = Cipher(algorithms.AES(NIST_KEY), modes.CBC(NIST_CBC_IV)).encryptor().update(chosen)
    got = out[6:]
    assert got[0:16] + got[160:176] + got[320:336] == want
    clear = [i for i in range(25) if i % 10]
    assert all(got[i * 16 : i * 16 + 16] == body[i * 16 : i * 16 + 16] for i in clear)
    assert got[-3:] == b"xyz"


def test_cbcs_chain_restarts_at_every_subsample() -> None:
    block = NIST_PLAIN[:16]
    out = encrypt_sample("cbcs", NIST_KEY, NIST_CBC_IV, b"a" + block + b"b" + block,
                         [(1, 16), (1, 16)])  # fmt: skip
    assert out == b"a" + NIST_CBC[:16] + b"b" + NIST_CBC[:16]


@pytest.mark.parametrize("pattern", [VIDEO_PATTERN, WHOLE_BLOCKS, Pattern(2, 3), Pattern(5, 5)])
def test_cbcs_decrypts_back(pattern: Pattern) -> None:
    sample = bytearray(b"c" * 7 + _blocks(40) + b"end")
    original = bytes(sample)
    cbcs_crypt_sample(NIST_KEY, NIST_CBC_IV, sample, [(7, 643)], pattern)
    assert bytes(sample) != original
    cbcs_crypt_sample(NIST_KEY, NIST_CBC_IV, sample, [(7, 643)], pattern, decrypt=True)
    assert bytes(sample) == original


def test_key_and_iv_sizes_are_checked() -> None:
    with pytest.raises(ValueError):
        encrypt_sample("cenc", bytes(15), bytes(8), b"x", None)
    with pytest.raises(ValueError):
        encrypt_sample("cenc", bytes(16), bytes(12), b"x", None)
    with pytest.raises(ValueError):
        encrypt_sample("cbcs", bytes(16), bytes(8), b"x" * 32, None)


def test_sequential_ivs_never_share_counter_blocks() -> None:
    source = SequentialIvs(b"\xff" * 7 + b"\xfe", 16)
    ivs = source.ivs(0, 3)
    assert ivs == [b"\xff" * 7 + b"\xfe" + bytes(8), b"\xff" * 8 + bytes(8), bytes(16)]
    assert source.ivs(1, 1) == ivs[1:2]  # a pure function of the sample index
    assert derive_iv_base(NIST_KEY, 1) != derive_iv_base(NIST_KEY, 2)
    assert len(derive_iv_base(NIST_KEY, 1)) == 8


def test_organizer_aligns_merges_and_splits() -> None:
    organizer = _Organizer(align=True)
    organizer.add(5, 40)  # 32 protected, 8 clear after
    organizer.add(70_000, 0)  # a big clear unit merges with what follows
    organizer.add(4, 16)
    organizer.add(3, 0)
    assert organizer.finish() == [(5, 32), (65535, 0), (8 + 70_000 + 4 - 65535, 16), (3, 0)]
    unaligned = _Organizer(align=False)
    unaligned.add(5, 40)
    assert unaligned.finish() == [(5, 40)]


def _avcc_sample(*nals: bytes) -> bytes:
    return b"".join(len(n).to_bytes(4, "big") + n for n in nals)


def test_maps_refuse_malformed_samples() -> None:
    config = avc.HevcConfig(4, (), (), ())
    mapper = NalSubsampleMapper(config, "cenc")
    with pytest.raises(MediaError):
        mapper.sample_map(b"\x00\x00\x01\x00" + b"short")


@pytest.mark.parametrize("iv_size", [8, 16])
def test_batched_cenc_equals_one_cipher_per_sample(iv_size: int) -> None:
    rng = np.random.default_rng(7)
    sizes = [int(s) for s in rng.integers(1, 700, 40)] + [16, 32, 1]
    sizes += [int(s) for s in rng.integers(8000, 30000, 6)]  # large: one cipher each
    data = bytes(rng.integers(0, 256, sum(sizes), dtype=np.uint8))
    ivs = [bytes(rng.integers(0, 256, iv_size, dtype=np.uint8)) for _ in sizes]
    if iv_size == 16:
        ivs[3] = ivs[-1] = b"\x01" * 8 + b"\xff" * 8  # the counter carries into the high half
    maps = []
    for size in sizes:  # random maps, some with several protected ranges
        clear = int(rng.integers(0, size + 1))
        rest = size - clear
        cut = int(rng.integers(0, rest + 1))
        maps.append([(clear, cut), (0, rest - cut)] if rest else [(clear, 0)])
    for sample_maps in (None, maps):
        want, at = bytearray(data), 0
        for index, size in enumerate(sizes):
            sample_map = None if sample_maps is None else sample_maps[index]
            cenc_crypt_sample(NIST_KEY, ivs[index], memoryview(want)[at : at + size], sample_map)
            at += size
        got = bytearray(data)
        cenc_crypt_samples(NIST_KEY, ivs, got, sizes, sample_maps)
        assert got == want


def test_batched_keystream_is_nist_ctr() -> None:
    stream = ctr_keystream(NIST_KEY, [NIST_CTR_IV], np.array([64], dtype=np.int64))
    assert bytes(stream ^ np.frombuffer(NIST_PLAIN, dtype=np.uint8)) == NIST_CTR


def test_bit_reader_skips_emulation_prevention_and_counts_raw_bytes() -> None:
    # RBSP 00 00 01 80: escaped as 00 00 03 01 80
    reader = BitReader(bytes([0, 0, 3, 1, 0x80]))
    assert reader.bits(24) == 1
    assert reader.raw_bytes_read == 4  # three RBSP bytes came from four raw bytes
    assert reader.flag() is True
    assert reader.raw_bytes_read == 5  # a partly read byte counts
    codes = BitReader(bytes([0b1_010_011_0, 0b1100_0000]))  # ue: 0, 1, 2, then se "011" -> -1
    assert [codes.ue(), codes.ue(), codes.ue(), codes.se()] == [0, 1, 2, -1]
    with pytest.raises(EOFError):
        BitReader(b"\x00").ue()
