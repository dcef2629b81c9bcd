"""Uploads to the blob endpoint: streamed without holding threads, block lists capped as
Azure caps them, uncommitted blocks that expire. openvod's HTTP server, the azure-storage-blob
SDK and raw HTTP."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobBlock, ContainerClient

from openvod.blob import create_blob_app
from openvod.blob.app import MAX_PUT_BLOB_BYTES
from openvod.httpd import HttpLimits
from openvod.storage.limits import MAX_BLOCKS_IN_LIST, StoreLimits
from openvod.storage.local import LocalBlobStore
from openvod.storage.sas import generate_container_sas
from tests.httpd_support import running

ACCOUNT = "openvodtest"
KEY = hashlib.sha256(b"upload test key").digest()
CONTAINER = "asset-uploads"
STALLED = 60  # more than anyio's 40 worker threads


class Clock:
    """A settable UTC clock for block expiry (SAS expiry uses the real time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Site:
    url: str
    store: LocalBlobStore
    root: Path
    clock: Clock

    def sas(self) -> str:
        expiry = datetime.now(UTC) + timedelta(hours=1)
        return generate_container_sas(ACCOUNT, KEY, CONTAINER, "racwdl", expiry)

    def client(self, **kwargs: object) -> ContainerClient:
        url = f"{self.url}/{CONTAINER}?{self.sas()}"
        return ContainerClient.from_container_url(url, retry_total=0, **kwargs)

    def blob_url(self, name: str, query: str = "") -> str:
        return f"{self.url}/{CONTAINER}/{name}?{query}{'&' if query else ''}{self.sas()}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("uploads")
    clock = Clock()
    store = LocalBlobStore(root, StoreLimits(max_blob_bytes=64 * 1024 * 1024, clock=clock))
    store.create_container(CONTAINER)
    app = create_blob_app(store, account_name=ACCOUNT, account_key=KEY)
    limits = HttpLimits(max_body_bytes=MAX_PUT_BLOB_BYTES)  # as `openvod serve`'s blob port
    with running(app, limits) as handle:
        yield Site(f"http://127.0.0.1:{handle.port}", store, root, clock)


def _block_list(ids: list[str]) -> bytes:
    latest = "".join(f"<Latest>{block_id}</Latest>" for block_id in ids)
    return f'<?xml version="1.0" encoding="utf-8"?><BlockList>{latest}</BlockList>'.encode()


def _block_id(n: int) -> str:
    return base64.b64encode(f"block-{n:06d}".encode()).decode()


def _stall(site: Site, name: str) -> socket.socket:
    """A Put Blob that promises 1,000,000 bytes and sends 10."""
    host, port = site.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    path = f"/{CONTAINER}/{name}?{site.sas()}"
    head = (f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nx-ms-blob-type: BlockBlob\r\n"
            f"x-ms-version: 2021-08-06\r\nContent-Length: 1000000\r\n\r\n")  # fmt: skip
    sock.sendall(head.encode() + b"0123456789")
    return sock


def test_stalled_uploads_hold_no_thread(site: Site) -> None:
    site.store.put_blob(CONTAINER, "existing.txt", b"still readable")
    stalled = [_stall(site, f"stalled-{n}.bin") for n in range(STALLED)]
    try:
        time.sleep(0.5)  # let the server accept them all and start waiting for bytes
        with httpx.Client(timeout=20) as http:
            got = http.get(site.blob_url("existing.txt"))
            assert (got.status_code, got.content) == (200, b"still readable")
            put = http.put(site.blob_url("fresh.txt"), content=b"x" * 3_000_000,
                           headers={"x-ms-blob-type": "BlockBlob"})  # fmt: skip
            assert put.status_code == 201, put.text
            query = f"comp=block&blockid={_block_id(1)}"
            block = http.put(site.blob_url("fresh-blocks.bin", query), content=b"b" * 100_000)
            assert block.status_code == 201, block.text
        assert site.store.read_range(CONTAINER, "fresh.txt", 0, 10) == b"x" * 10
        names = {b.name for b in site.store.list_blobs(CONTAINER)}
        assert not any(n.startswith("stalled-") for n in names)  # nothing half-written shows
    finally:
        for sock in stalled:
            sock.close()
    tmp = site.root / "tmp"
    for _ in range(100):  # the aborted uploads' temp files go once the clients are gone
        if not any(tmp.iterdir()):
            break
        time.sleep(0.1)
    assert not any(tmp.iterdir())


def test_large_sdk_upload_with_four_threads(site: Site) -> None:
    data = os.urandom(9 * 1024 * 1024 + 777)
    client = site.client(max_single_put_size=4 * 1024 * 1024, max_block_size=1024 * 1024)
    blob = client.get_blob_client("big/mezzanine.mp4")
    blob.upload_blob(data, max_concurrency=4, overwrite=True)
    assert blob.download_blob(max_concurrency=4).readall() == data
    single = os.urandom(3 * 1024 * 1024 + 5)  # one Put Blob, streamed in chunks
    client.upload_blob("single.bin", single, overwrite=True)
    assert client.download_blob("single.bin").readall() == single
    info = site.store.get_info(CONTAINER, "single.bin")
    assert info.content_md5 == hashlib.md5(single).digest()


def test_a_repeated_block_cannot_amplify_a_request(site: Site) -> None:
    blob = site.client().get_blob_client("amplified.bin")
    blob.stage_block(_block_id(7), b"m" * 1024 * 1024)
    with pytest.raises(HttpResponseError) as caught:
        blob.commit_block_list([BlobBlock(_block_id(7))] * 64)
    assert caught.value.status_code == 400
    assert caught.value.error_code == "InvalidBlockList"
    assert not blob.exists()
    raw = httpx.put(site.blob_url("amplified.bin", "comp=blocklist"),
                    content=_block_list([_block_id(7)] * 2), timeout=20)  # fmt: skip
    assert raw.status_code == 400 and raw.headers["x-ms-error-code"] == "InvalidBlockList"
    assert b"<Code>InvalidBlockList</Code>" in raw.content
    blob.commit_block_list([BlobBlock(_block_id(7))])  # once is fine
    assert blob.get_blob_properties().size == 1024 * 1024


def test_a_block_list_longer_than_azures_cap(site: Site) -> None:
    ids = [_block_id(n) for n in range(MAX_BLOCKS_IN_LIST + 1)]
    raw = httpx.put(site.blob_url("long.bin", "comp=blocklist"), content=_block_list(ids),
                    timeout=60)  # fmt: skip
    assert raw.status_code == 400, raw.text
    assert raw.headers["x-ms-error-code"] == "BlockListTooLong"


def test_a_blob_over_the_size_cap_is_refused(site: Site) -> None:
    blob = site.client().get_blob_client("huge.bin")
    chunk = b"h" * (8 * 1024 * 1024)
    ids = [_block_id(100 + n) for n in range(9)]  # 72 MiB > the 64 MiB cap of this store
    for block_id in ids:
        blob.stage_block(block_id, chunk)
    with pytest.raises(HttpResponseError) as caught:
        blob.commit_block_list([BlobBlock(b) for b in ids])
    assert caught.value.status_code == 400 and caught.value.error_code == "InvalidBlockList"
    blob.commit_block_list([BlobBlock(b) for b in ids[:8]])  # exactly 64 MiB
    assert blob.get_blob_properties().size == 64 * 1024 * 1024


def test_uncommitted_blocks_expire(site: Site) -> None:
    client = site.client()
    lazy = client.get_blob_client("lazy.bin")
    swept = client.get_blob_client("swept.bin")
    lazy.stage_block(_block_id(1), b"old")
    swept.stage_block(_block_id(1), b"old")
    site.clock.offset = timedelta(days=8)  # a week passes without a Put Block List
    try:
        lazy.stage_block(_block_id(2), b"new")  # touching the blob drops its stale blocks
        with pytest.raises(HttpResponseError) as caught:
            lazy.commit_block_list([BlobBlock(_block_id(1)), BlobBlock(_block_id(2))])
        assert caught.value.error_code == "InvalidBlockList"
        lazy.commit_block_list([BlobBlock(_block_id(2))])
        assert lazy.download_blob().readall() == b"new"
        folder = site.store.staging.folder(CONTAINER, "swept.bin")
        assert folder.is_dir()  # nobody touched swept.bin: its blocks are still on disk
        assert not site.store.staging.folder(CONTAINER, "lazy.bin").exists()
        assert site.store.sweep_expired_blocks() >= 1  # what the worker runs
        assert not folder.exists()
        with pytest.raises(HttpResponseError):
            swept.commit_block_list([BlobBlock(_block_id(1))])
    finally:
        site.clock.offset = timedelta(0)
