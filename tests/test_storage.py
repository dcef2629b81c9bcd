"""Blob stores (local and in-memory), name rules and path safety."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from openvod.blob.errors import BlobServiceError
from openvod.blob.params import requested_span
from openvod.blob.urls import remove_dot_segments, split_path
from openvod.blob.xml import page_listing
from openvod.errors import (
    ConflictError,
    InvalidNameError,
    InvalidRequestError,
    NotFoundError,
    StorageError,
)
from openvod.storage import BlobStore, LocalBlobStore, MemoryBlobStore, memory, staging
from openvod.storage.limits import MAX_BLOCKS_IN_LIST, StoreLimits
from openvod.storage.names import (
    blob_segments,
    contained_path,
    is_valid_blob_name,
    validate_container_name,
)

C = "asset-1"


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    made: BlobStore = (
        LocalBlobStore(tmp_path / "root") if request.param == "local" else (MemoryBlobStore())
    )
    made.create_container(C)
    yield made


# ---- semantics shared by every store ----------------------------------------


def test_put_get_read(store: BlobStore) -> None:
    info = store.put_blob(C, "a/b/c.mp4", b"0123456789", content_type="video/mp4")
    assert info.size_bytes == 10
    assert info.content_type == "video/mp4"
    assert info.content_md5 == hashlib.md5(b"0123456789").digest()
    assert info.etag.startswith('"0x') and info.etag.endswith('"')
    assert info.last_modified.tzinfo is not None
    again = store.get_info(C, "a/b/c.mp4")
    assert (again.etag, again.size_bytes, again.content_md5) == (
        info.etag,
        10,
        info.content_md5,
    )
    assert store.read_range(C, "a/b/c.mp4", 3, 4) == b"3456"
    assert store.read_range(C, "a/b/c.mp4", 8, 100) == b"89"
    with store.open_read(C, "a/b/c.mp4") as fh:
        assert fh.read() == b"0123456789"


def test_put_from_file_object_and_default_type(store: BlobStore) -> None:
    info = store.put_blob(C, "stream.bin", io.BytesIO(b"x" * 3_000_000))
    assert info.size_bytes == 3_000_000
    assert info.content_type == "application/octet-stream"


def test_replacing_changes_the_etag(store: BlobStore) -> None:
    first = store.put_blob(C, "v.txt", b"one")
    second = store.put_blob(C, "v.txt", b"two!")
    assert first.etag != second.etag
    assert store.get_info(C, "v.txt").size_bytes == 4


def test_md5_mismatch(store: BlobStore) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        store.put_blob(C, "bad.txt", b"data", content_md5=b"\x00" * 16)
    assert caught.value.code == "Md5Mismatch"
    with pytest.raises(NotFoundError):
        store.get_info(C, "bad.txt")


def test_missing_things(store: BlobStore) -> None:
    with pytest.raises(NotFoundError) as caught:
        store.get_info(C, "nope")
    assert caught.value.code == "BlobNotFound"
    with pytest.raises(NotFoundError) as caught:
        store.put_blob("no-container", "x", b"")
    assert caught.value.code == "ContainerNotFound"
    with pytest.raises(NotFoundError):
        store.list_blobs("no-container")
    with pytest.raises(NotFoundError):
        store.delete_blob(C, "nope")


def test_blocks(store: BlobStore) -> None:
    store.stage_block(C, "big.bin", "b2", b"world")
    store.stage_block(C, "big.bin", "b1", b"hello ")
    with pytest.raises(NotFoundError):
        store.get_info(C, "big.bin")  # uncommitted blocks are invisible
    assert store.list_blobs(C) == []
    info = store.commit_block_list(C, "big.bin", ["b1", "b2"], content_type="text/plain")
    assert store.read_range(C, "big.bin", 0, 100) == b"hello world"
    assert info.content_type == "text/plain"
    # Committed blocks can be reused; staged ones win over committed ones.
    store.stage_block(C, "big.bin", "b1", b"HELLO ")
    with pytest.raises(InvalidRequestError) as repeated:  # no blob bigger than its uploads
        store.commit_block_list(C, "big.bin", ["b1", "b2", "b2"])
    assert repeated.value.code == "InvalidBlockList"
    store.commit_block_list(C, "big.bin", ["b2", "b1"])
    assert store.read_range(C, "big.bin", 0, 100) == b"worldHELLO "
    with pytest.raises(InvalidRequestError) as caught:
        store.commit_block_list(C, "big.bin", ["b1", "b3"])
    assert caught.value.code == "InvalidBlockList"


def test_commit_discards_unused_blocks(store: BlobStore) -> None:
    store.stage_block(C, "x.bin", "keep", b"k")
    store.stage_block(C, "x.bin", "drop", b"d")
    store.commit_block_list(C, "x.bin", ["keep"])
    with pytest.raises(InvalidRequestError):
        store.commit_block_list(C, "x.bin", ["drop"])


def test_list_sorted_with_prefix(store: BlobStore) -> None:
    for name in ["b/2", "a-c", "a/b", "b/10", "a/a/a", "ab"]:
        store.put_blob(C, name, name.encode())
    assert [i.name for i in store.list_blobs(C)] == ["a-c", "a/a/a", "a/b", "ab", "b/10", "b/2"]
    assert [i.name for i in store.list_blobs(C, "a/")] == ["a/a/a", "a/b"]
    assert [i.name for i in store.list_blobs(C, "a/a")] == ["a/a/a"]
    assert [i.name for i in store.list_blobs(C, "b/1")] == ["b/10"]
    assert store.list_blobs(C, "../") == []


def test_delete_blob_and_container(store: BlobStore) -> None:
    store.put_blob(C, "d/e/f", b"1")
    store.put_blob(C, "d/g", b"2")
    store.delete_blob(C, "d/e/f")
    assert [i.name for i in store.list_blobs(C)] == ["d/g"]
    store.delete_container(C)
    store.delete_container(C)  # idempotent
    assert not store.container_exists(C)
    store.create_container(C)
    assert store.list_blobs(C) == []


def test_put_file_copy_and_move(store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "out.mp4"
    src.write_bytes(b"encoded")
    info = store.put_file(C, "out/copy.mp4", src, content_type="video/mp4")
    assert src.exists() and info.content_md5 == hashlib.md5(b"encoded").digest()
    moved = store.put_file(C, "out/moved.mp4", src, move=True)
    assert not src.exists()
    assert moved.size_bytes == 7
    assert store.read_range(C, "out/moved.mp4", 0, 7) == b"encoded"


@pytest.mark.parametrize(
    "name", ["", "/abs", "a//b", "a/./b", "a/../b", "..", "a/", "a\\b", "a\x00b", "a\nb"]
)
def test_bad_names_are_refused(store: BlobStore, name: str) -> None:
    with pytest.raises(InvalidNameError):
        store.put_blob(C, name, b"x")
    with pytest.raises(InvalidNameError):
        store.get_info(C, name)


@pytest.mark.parametrize(
    "container", ["ab", "UPPER", "a--b", "-ab", "ab-", "a_b", "x" * 64, "../x"]
)
def test_bad_container_names(store: BlobStore, container: str) -> None:
    with pytest.raises(InvalidNameError):
        store.create_container(container)


# ---- the local store --------------------------------------------------------


def test_local_layout_keeps_sidecars_out_of_listings(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.create_container(C)
    store.put_blob(C, "v/a.mp4", b"a", content_type="video/mp4")
    store.stage_block(C, "v/b.mp4", "x", b"b")
    assert [i.name for i in store.list_blobs(C)] == ["v/a.mp4"]
    assert store.local_path(C, "v/a.mp4") == tmp_path.resolve() / "containers" / C / "v" / "a.mp4"
    files = sorted(p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file())
    assert set(files) == {"containers", "meta", "staging"}
    assert not list((tmp_path / "tmp").iterdir())


def test_local_file_folder_clash(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.create_container(C)
    store.put_blob(C, "a", b"file")
    with pytest.raises(ConflictError):
        store.put_blob(C, "a/b", b"under a file")
    store.put_blob(C, "x/y", b"1")
    with pytest.raises(ConflictError):
        store.put_blob(C, "x", b"over a folder")
    store.delete_blob(C, "x/y")  # prunes the empty folder
    store.put_blob(C, "x", b"now fine")
    assert not list((tmp_path / "tmp").iterdir())


def test_local_refuses_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    store = LocalBlobStore(tmp_path / "root")
    store.create_container(C)
    cdir = tmp_path / "root" / "containers" / C
    (cdir / "link").symlink_to(outside)
    (cdir / "file-link").symlink_to(outside / "secret")
    with pytest.raises(StorageError):
        store.get_info(C, "link/secret")
    with pytest.raises(StorageError):
        store.put_blob(C, "link/new", b"x")
    with pytest.raises((StorageError, NotFoundError)):
        store.read_range(C, "file-link", 0, 10)
    assert store.list_blobs(C) == []
    assert not (outside / "new").exists()
    # A container that is itself a symlink, even to another container, is refused.
    (tmp_path / "root" / "containers" / "alias").symlink_to(cdir)
    with pytest.raises(StorageError):
        store.list_blobs("alias")


def test_local_sidecar_mismatch_falls_back(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.create_container(C)
    store.put_blob(C, "f.txt", b"abc", content_type="text/plain")
    path = store.local_path(C, "f.txt")
    assert path is not None
    path.write_bytes(b"changed behind our back")  # same inode, new mtime and size
    info = store.get_info(C, "f.txt")
    assert info.size_bytes == len(b"changed behind our back")
    assert info.content_md5 is None and info.content_type == "application/octet-stream"


def test_local_concurrent_blocks(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.create_container(C)
    blocks = {f"{i:04d}": os.urandom(50_000) for i in range(32)}
    errors: list[BaseException] = []

    def stage(ids: list[str]) -> None:
        try:
            for block_id in ids:
                store.stage_block(C, "par/blob.bin", block_id, blocks[block_id])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    ids = sorted(blocks)
    threads = [threading.Thread(target=stage, args=(ids[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    store.commit_block_list(C, "par/blob.bin", ids)
    expected = b"".join(blocks[i] for i in ids)
    assert store.read_range(C, "par/blob.bin", 0, len(expected) + 1) == expected
    assert not any((tmp_path / "staging").rglob("*.block"))


def test_local_readers_never_see_partial_blobs(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.create_container(C)
    versions = [bytes([n]) * 200_000 for n in range(8)]
    store.put_blob(C, "hot.bin", versions[0])
    stop = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not stop.is_set():
            info = store.get_info(C, "hot.bin")
            with store.open_read(C, "hot.bin") as fh:
                data = fh.read()
            if len(set(data)) != 1 or len(data) != 200_000:
                seen.append("partial")
            if info.content_md5 not in {hashlib.md5(v).digest() for v in versions}:
                seen.append("bad md5")

    reader = threading.Thread(target=read)
    reader.start()
    for version in versions[1:] * 3:
        store.put_blob(C, "hot.bin", version)
    stop.set()
    reader.join()
    assert seen == []


# ---- names and paths --------------------------------------------------------


def test_container_names() -> None:
    for good in ("abc", "asset-0d9a", "a" * 63, "0-1-2"):
        assert validate_container_name(good) == good


def test_blob_names() -> None:
    assert blob_segments("a/b c/ü.mp4") == ["a", "b c", "ü.mp4"]
    assert is_valid_blob_name("..a/b..") and is_valid_blob_name(".hidden")
    assert not is_valid_blob_name("a" * 256)
    assert not is_valid_blob_name("x" * 1025)
    assert not is_valid_blob_name("\udc80")


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet=st.sampled_from(list("ab./\\\x00 %é")), max_size=20))
def test_valid_names_always_stay_inside(tmp_path: Path, name: str) -> None:
    base = tmp_path.resolve() / "base"
    if not is_valid_blob_name(name):
        with pytest.raises(InvalidNameError):
            blob_segments(name)
        return
    path = contained_path(base, blob_segments(name))
    assert path.is_relative_to(base)
    assert ".." not in path.relative_to(base).parts


@given(st.lists(st.sampled_from(["a", "b", ".", "..", "", "%2e"]), max_size=8))
def test_remove_dot_segments_never_leaves_dots(parts: list[str]) -> None:
    resolved = remove_dot_segments("/" + "/".join(parts))
    assert resolved.startswith("/")
    assert not {".", ".."} & set(resolved.split("/"))


def test_remove_dot_segments_examples() -> None:
    assert remove_dot_segments("/c/../c/blob") == "/c/blob"
    assert remove_dot_segments("/../../x/./y") == "/x/y"
    assert remove_dot_segments("/a/b/..") == "/a/"
    assert split_path(b"/c/../c/dir/f%20g.mp4") == ("c", "dir/f g.mp4")
    assert split_path(b"/c") == ("c", None)
    assert split_path(b"/c/%2e%2e/x") == ("c", "../x")  # refused later by the name rules


def test_parse_range() -> None:
    def parse_range(header: str, size: int) -> tuple[int, int]:
        span = requested_span(Headers({"x-ms-range": header}), size, range_applies=True)
        assert span is not None
        return span.start, span.last

    assert parse_range("bytes=0-", 10) == (0, 9)
    assert parse_range("bytes=2-4", 10) == (2, 4)
    assert parse_range("bytes=5-100", 10) == (5, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    for header, status in (("bytes=10-", 416), ("bytes=0-", 416), ("bytes=4-2", 400), ("x", 400)):
        size = 0 if header == "bytes=0-" else 10
        with pytest.raises(BlobServiceError) as caught:
            parse_range(header, size)
        assert caught.value.status == status


def test_page_listing_with_delimiter() -> None:
    store = MemoryBlobStore()
    store.create_container(C)
    for name in ["p/a/1", "p/a/2", "p/b", "p/c/1", "p/d"]:
        store.put_blob(C, name, b"")
    blobs = store.list_blobs(C, "p/")
    first = page_listing(blobs, "p/", "/", "", 2)
    assert [e if isinstance(e, str) else e.name for e in first.entries] == ["p/a/", "p/b"]
    second = page_listing(blobs, "p/", "/", first.next_marker, 2)
    assert [e if isinstance(e, str) else e.name for e in second.entries] == ["p/c/", "p/d"]
    assert second.next_marker == ""


# ---- streamed writes and Azure's block caps (both stores) ------------------------------


class _Clock:
    """A settable UTC clock for block expiry."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _limited(kind: str, tmp_path: Path, clock: _Clock, max_blob_bytes: int = 1 << 40) -> BlobStore:
    limits = StoreLimits(max_blob_bytes=max_blob_bytes, block_expiry_seconds=3600, clock=clock)
    if kind == "local":
        made: BlobStore = LocalBlobStore(tmp_path / "root", limits)
    else:
        made = MemoryBlobStore(limits=limits)
    made.create_container(C)
    return made


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_writer_is_invisible_until_commit_and_abort_leaves_nothing(
    kind: str, tmp_path: Path
) -> None:
    store = _limited(kind, tmp_path, _Clock())
    writer = store.open_writer(C, "w.bin", "text/plain")
    writer.write(b"abc")
    writer.write(memoryview(b"def"))
    with pytest.raises(NotFoundError):
        store.get_info(C, "w.bin")
    info = writer.commit()
    assert (info.size_bytes, store.read_range(C, "w.bin", 0, 10)) == (6, b"abcdef")
    aborted = store.open_writer(C, "gone.bin")
    aborted.write(b"x" * 1000)
    aborted.abort()
    assert [i.name for i in store.list_blobs(C)] == ["w.bin"]
    if kind == "local":
        assert not list((tmp_path / "root" / "tmp").iterdir())
    bad = store.open_writer(C, "md5.bin", content_md5=hashlib.md5(b"other").digest())
    bad.write(b"data")
    with pytest.raises(InvalidRequestError) as caught:
        bad.commit()
    assert caught.value.code == "Md5Mismatch"


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_block_caps_and_expiry(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    store = _limited(kind, tmp_path, clock, max_blob_bytes=10)
    with pytest.raises(InvalidRequestError) as too_long:
        store.commit_block_list(C, "b.bin", [f"id{n}" for n in range(MAX_BLOCKS_IN_LIST + 1)])
    assert too_long.value.code == "BlockListTooLong"
    store.stage_block(C, "b.bin", "one", b"123456")
    store.stage_block(C, "b.bin", "two", b"123456")
    with pytest.raises(InvalidRequestError) as too_big:
        store.commit_block_list(C, "b.bin", ["one", "two"])
    assert too_big.value.code == "InvalidBlockList"
    monkeypatch.setattr(staging, "MAX_UNCOMMITTED_BLOCKS", 3)
    monkeypatch.setattr(memory, "MAX_UNCOMMITTED_BLOCKS", 3)
    store.stage_block(C, "b.bin", "three", b"3")
    store.stage_block(C, "b.bin", "three", b"3")  # the same block again is no new block
    with pytest.raises(ConflictError) as too_many:
        store.stage_block(C, "b.bin", "four", b"4")
    assert too_many.value.code == "BlockCountExceedsLimit"
    clock.now += timedelta(hours=2)  # past the expiry: the blob's blocks are gone
    assert store.sweep_expired_blocks() == 1
    assert store.sweep_expired_blocks() == 0
    with pytest.raises(InvalidRequestError):
        store.commit_block_list(C, "b.bin", ["one"])
    store.stage_block(C, "b.bin", "four", b"4")  # room again
    clock.now += timedelta(minutes=59)
    store.stage_block(C, "b.bin", "five", b"5")  # a Put Block renews the blob's blocks
    clock.now += timedelta(minutes=59)
    assert store.commit_block_list(C, "b.bin", ["four", "five"]).size_bytes == 2
