"""SealedStore over the in-memory and local stores: the file format, ranges, blocks, MD5."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from openvod.errors import InvalidRequestError
from openvod.storage import cipher
from openvod.storage.local import LocalBlobStore
from openvod.storage.memory import MemoryBlobStore
from openvod.storage.sealed import STAGING_PREFIX, SealedStore
from openvod.storage.store import BlobStore

KEY = bytes(range(32))
DATA = os.urandom(70_001)


def sealed(raw: BlobStore) -> SealedStore:
    store = SealedStore(raw, lambda c: KEY if c == "enc" else None)
    store.create_container("enc")
    store.create_container("clear")
    return store


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SealedStore:
    raw = MemoryBlobStore() if request.param == "memory" else LocalBlobStore(tmp_path)
    return sealed(raw)


def whole_decrypt(stored: bytes) -> bytes:
    assert stored[:8] == b"OVSE\x01\x00\x00\x00"
    ctr = Cipher(algorithms.AES(KEY), modes.CTR(stored[8:16] + bytes(8))).decryptor()
    return ctr.update(stored[16:])


def test_put_blob_format_and_sizes(store: SealedStore) -> None:
    info = store.put_blob("enc", "a/b.mp4", DATA)
    stored = store.raw.read_range("enc", "a/b.mp4", 0, 10**6)
    assert info.size_bytes == len(DATA) == store.get_info("enc", "a/b.mp4").size_bytes
    assert len(stored) == len(DATA) + cipher.HEADER_BYTES
    assert whole_decrypt(stored) == DATA
    assert [b.size_bytes for b in store.list_blobs("enc")] == [len(DATA)]
    assert store.local_path("enc", "a/b.mp4") is None


def test_clear_containers_pass_through(store: SealedStore) -> None:
    store.put_blob("clear", "x", DATA)
    assert store.raw.read_range("clear", "x", 0, 10**6) == DATA
    assert store.get_info("clear", "x") == store.raw.get_info("clear", "x")


@settings(max_examples=60, deadline=None)
@given(offset=st.integers(0, len(DATA)), length=st.integers(0, 40_000))
def test_any_range_decrypts_alone(offset: int, length: int) -> None:
    store = sealed(MemoryBlobStore())
    store.put_blob("enc", "f", DATA)
    assert store.read_range("enc", "f", offset, length) == DATA[offset : offset + length]
    with store.open_read("enc", "f") as fh:
        fh.seek(offset)
        assert fh.read(length) == DATA[offset : offset + length]


def test_blocks_are_sealed_then_resealed_under_one_nonce(store: SealedStore) -> None:
    parts = [DATA[:1], DATA[1:30_000], DATA[30_000:30_000], DATA[30_000:]]
    for index, part in enumerate(parts):
        store.stage_block("enc", "big", f"{index:04d}", part)
    info = store.commit_block_list("enc", "big", [f"{i:04d}" for i in range(len(parts))])
    assert info.size_bytes == len(DATA)
    assert whole_decrypt(store.raw.read_range("enc", "big", 0, 10**6)) == DATA
    assert [b.name for b in store.raw.list_blobs("enc")] == ["big"]
    assert not any(b.name.startswith(STAGING_PREFIX) for b in store.list_blobs("enc"))


def test_unknown_block_is_refused_and_leaves_nothing(store: SealedStore) -> None:
    store.stage_block("enc", "f", "AAAA", b"x" * 100)
    with pytest.raises(InvalidRequestError):
        store.commit_block_list("enc", "f", ["AAAA", "BBBB"])
    assert store.raw.list_blobs("enc") == []


def test_md5_is_checked_on_the_plaintext(store: SealedStore) -> None:
    good = hashlib.md5(DATA).digest()
    store.put_blob("enc", "ok", DATA, content_md5=good)
    with pytest.raises(InvalidRequestError):
        store.put_blob("enc", "bad", DATA, content_md5=hashlib.md5(b"other").digest())
    with pytest.raises(InvalidRequestError):
        writer = store.open_block_writer("enc", "blk", "AAAA", hashlib.md5(b"x").digest())
        writer.write(b"y")
        writer.commit()


def test_two_files_never_share_a_nonce(store: SealedStore) -> None:
    store.put_blob("enc", "one", DATA)
    store.put_blob("enc", "two", DATA)
    one = store.raw.read_range("enc", "one", 0, 10**6)
    two = store.raw.read_range("enc", "two", 0, 10**6)
    assert one[8:16] != two[8:16] and one[16:] != two[16:]


def test_put_file_moves_and_encrypts(store: SealedStore, tmp_path: Path) -> None:
    src = tmp_path / "out.mp4"
    src.write_bytes(DATA)
    store.put_file("enc", "out.mp4", src, move=True)
    assert not src.exists()
    assert store.read_range("enc", "out.mp4", 0, 10**6) == DATA
