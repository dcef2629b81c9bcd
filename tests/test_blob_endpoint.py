"""The blob endpoint on openvod's HTTP server, driven by the official azure-storage-blob SDK."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobBlock, BlobClient, ContainerClient, ContentSettings
from starlette.types import Receive, Scope, Send

from openvod.blob import create_blob_app
from openvod.blob.app import MAX_PUT_BLOB_BYTES
from openvod.errors import NotFoundError
from openvod.httpd import HttpLimits
from openvod.storage.local import LocalBlobStore
from openvod.storage.memory import MemoryBlobStore
from openvod.storage.sas import generate_blob_sas, generate_container_sas
from tests.httpd_support import running

ACCOUNT = "openvodtest"
KEY = hashlib.sha256(b"test key").digest()
CONTAINER = "asset-0d9a4a7e"
_NOT_SAS = ("com", "res", "blo", "pre", "max", "mar", "del")


@dataclass
class Server:
    """A running blob endpoint."""

    url: str
    store: LocalBlobStore
    root: Path
    requests: list[tuple[str, str]]
    """(method, path?query without the SAS) of every request served, in order."""

    def sas(self, permission: str = "racwdl", container: str = CONTAINER, **kwargs: object) -> str:
        expiry = kwargs.pop("expiry", datetime.now(UTC) + timedelta(hours=1))
        assert isinstance(expiry, datetime)
        return generate_container_sas(ACCOUNT, KEY, container, permission, expiry)

    def container_url(self, permission: str = "racwdl", container: str = CONTAINER) -> str:
        return f"{self.url}/{container}?{self.sas(permission, container)}"

    def client(self, permission: str = "racwdl", **kwargs: Any) -> ContainerClient:
        return ContainerClient.from_container_url(
            self.container_url(permission), retry_total=0, **kwargs
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("blobstore")
    store = LocalBlobStore(root / "data")
    store.create_container(CONTAINER)
    store.create_container("other-container")
    blob_app = create_blob_app(store, account_name=ACCOUNT, account_key=KEY)
    requests: list[tuple[str, str]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = "&".join(
                p for p in scope["query_string"].decode().split("&") if p[:3] in _NOT_SAS
            )
            requests.append((scope["method"], f"{scope['path']}?{query}"))
        await blob_app(scope, receive, send)

    limits = HttpLimits(max_body_bytes=MAX_PUT_BLOB_BYTES)  # as `openvod serve`'s blob port
    with running(app, limits) as handle:
        yield Server(url=f"http://127.0.0.1:{handle.port}", store=store, root=root,
                     requests=requests)  # fmt: skip


def test_small_upload_is_a_single_put_and_round_trips(server: Server) -> None:
    client = server.client()
    data = b"hello openvod\n" * 100
    del server.requests[:]
    client.upload_blob(
        "small.txt", data, content_settings=ContentSettings(content_type="text/plain")
    )
    assert server.requests == [("PUT", f"/{CONTAINER}/small.txt?")]
    props = client.get_blob_client("small.txt").get_blob_properties()
    assert props.size == len(data)
    assert props.content_settings.content_type == "text/plain"
    assert bytes(props.content_settings.content_md5 or b"") == hashlib.md5(data).digest()
    assert props.blob_type == "BlockBlob"
    assert props.etag
    assert client.download_blob("small.txt").readall() == data


def test_large_upload_uses_blocks_and_downloads_byte_exact(server: Server) -> None:
    client = server.client(max_single_put_size=1024 * 1024, max_block_size=256 * 1024)
    data = os.urandom(3 * 1024 * 1024 + 12345)
    blob = client.get_blob_client("video/mezzanine.mp4")
    del server.requests[:]
    blob.upload_blob(data, max_concurrency=4, overwrite=True)
    kinds = [path.split("?")[1].split("&")[0] for _, path in server.requests]
    assert kinds.count("comp=block") == 13  # ceil(3 MiB + 12345 / 256 KiB)
    assert kinds[-1] == "comp=blocklist" and len(kinds) == 14
    assert blob.download_blob().readall() == data
    assert blob.download_blob(offset=1000, length=5000).readall() == data[1000:6000]
    tail = blob.download_blob(offset=len(data) - 10).readall()
    assert tail == data[-10:]
    # Multi-chunk parallel download (several ranged GETs with If-Match).
    small_gets = ContainerClient.from_container_url(
        server.container_url(), max_single_get_size=512 * 1024, max_chunk_get_size=256 * 1024
    ).get_blob_client("video/mezzanine.mp4")
    assert small_gets.download_blob(max_concurrency=4).readall() == data
    info = server.store.get_info(CONTAINER, "video/mezzanine.mp4")
    assert info.size_bytes == len(data)
    assert info.content_md5 == hashlib.md5(data).digest()
    staging = server.root / "data" / "staging"
    assert not any(p.is_file() for p in staging.rglob("*"))


def test_validate_content_uses_md5_per_request(server: Server) -> None:
    client = server.client(max_single_put_size=64 * 1024, max_block_size=64 * 1024)
    data = os.urandom(200 * 1024)
    blob = client.get_blob_client("validated.bin")
    blob.upload_blob(data, overwrite=True, validate_content=True)
    assert (
        blob.download_blob(validate_content=True, offset=0, length=100_000).readall()
        == (data[:100_000])
    )


def test_overwrite_false_refuses_an_existing_blob(server: Server) -> None:
    client = server.client()
    client.upload_blob("once.txt", b"first", overwrite=True)
    with pytest.raises(ResourceExistsError):
        client.upload_blob("once.txt", b"second")
    assert client.download_blob("once.txt").readall() == b"first"


def test_crc64_structured_uploads_are_refused_not_stored(server: Server) -> None:
    # What validate_content="crc64" sends (the SDK needs an extra package for it).
    response = httpx.put(
        f"{server.url}/{CONTAINER}/crc.bin?{server.sas()}",
        content=b"framed bytes",
        headers={
            "x-ms-blob-type": "BlockBlob",
            "x-ms-structured-body": "XSM/1.0; properties=crc64",
        },
    )
    assert response.status_code == 400
    assert response.headers["x-ms-error-code"] == "UnsupportedHeader"
    assert not server.client().get_blob_client("crc.bin").exists()


def test_empty_blob(server: Server) -> None:
    client = server.client()
    client.upload_blob("empty.bin", b"", overwrite=True)
    assert client.download_blob("empty.bin").readall() == b""
    assert client.get_blob_client("empty.bin").get_blob_properties().size == 0


def test_list_blobs_with_prefixes_and_paging(server: Server) -> None:
    client = server.client()
    names = [f"list/a/{i:02d}.ts" for i in range(7)] + ["list/b.mp4", "list/c/x.vtt"]
    for name in names:
        client.upload_blob(name, name.encode(), overwrite=True)
    listed = [b.name for b in client.list_blobs(name_starts_with="list/")]
    assert listed == sorted(names)
    pages = client.list_blobs(name_starts_with="list/a/", results_per_page=3).by_page()
    page_names = [[b.name for b in page] for page in pages]
    assert [len(p) for p in page_names] == [3, 3, 1]
    assert sum(page_names, []) == sorted(n for n in names if n.startswith("list/a/"))
    # The SDK yields a page's prefixes before its blobs.
    walked = [item.name for item in client.walk_blobs(name_starts_with="list/")]
    assert walked == ["list/a/", "list/c/", "list/b.mp4"]
    inner = [item.name for item in client.walk_blobs(name_starts_with="list/a/")]
    assert inner == [f"list/a/{i:02d}.ts" for i in range(7)]
    props = next(iter(client.list_blobs(name_starts_with="list/b.mp4")))
    assert props.size == len(b"list/b.mp4")
    assert bytes(props.content_settings.content_md5 or b"") == hashlib.md5(b"list/b.mp4").digest()


def test_delete_blob_and_exists(server: Server) -> None:
    client = server.client()
    client.upload_blob("doomed.txt", b"bye", overwrite=True)
    blob = client.get_blob_client("doomed.txt")
    assert blob.exists()
    blob.delete_blob()
    assert not blob.exists()
    with pytest.raises(ResourceNotFoundError):
        blob.download_blob()
    with pytest.raises(ResourceNotFoundError):
        blob.delete_blob()
    assert client.exists()


def test_blob_sas_through_blob_client(server: Server) -> None:
    server.client().upload_blob("shared.mp4", b"movie", overwrite=True)
    expiry = datetime.now(UTC) + timedelta(minutes=5)
    sas = generate_blob_sas(ACCOUNT, KEY, CONTAINER, "shared.mp4", "r", expiry)
    # Path-style URL: what the SDK expects for 127.0.0.1 blob URLs.
    url = f"{server.url}/{ACCOUNT}/{CONTAINER}/shared.mp4?{sas}"
    blob = BlobClient.from_blob_url(url, retry_total=0)
    assert blob.download_blob().readall() == b"movie"
    path_style = ContainerClient.from_container_url(
        f"{server.url}/{ACCOUNT}/{CONTAINER}?{server.sas()}", retry_total=0
    )
    assert path_style.download_blob("shared.mp4").readall() == b"movie"
    assert httpx.get(f"{server.url}/{CONTAINER}/shared.mp4?{sas}").content == b"movie"
    other = httpx.get(f"{server.url}/{CONTAINER}/small.txt?{sas}")
    assert other.status_code == 403


def _code(error: HttpResponseError) -> str | None:
    code = getattr(error, "error_code", None)  # a StorageErrorCode enum or a plain str
    return str(getattr(code, "value", code)) if code is not None else None


def _raw_request(server: Server, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``target`` verbatim (httpx and urllib3 would normalise the dot segments)."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"x-ms-blob-type": "BlockBlob", "Content-Length": str(len(body))}
    conn.request(method, target, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_dot_segments_resolve_like_azure(server: Server) -> None:
    # The official AMS samples upload to /{container}/../{container}/{blob}.
    target = f"/{CONTAINER}/../{CONTAINER}/dots.txt?{server.sas()}"
    status, _ = _raw_request(server, "PUT", target, b"dotted")
    assert status == 201
    assert server.store.read_range(CONTAINER, "dots.txt", 0, 100) == b"dotted"
    request = httpx.Request("GET", f"{server.url}/{CONTAINER}/dots.txt?{server.sas()}")
    assert httpx.Client().send(request).content == b"dotted"


def test_dot_segments_cannot_escape(server: Server) -> None:
    sas = server.sas()
    for target in (
        f"/{CONTAINER}/../../../../escape.txt?{sas}",
        f"/{CONTAINER}/../other-container/escape.txt?{sas}",
        f"/{CONTAINER}/%2e%2e/%2e%2e/escape.txt?{sas}",
        f"/{CONTAINER}/a/..%2f..%2f..%2fescape.txt?{sas}",
        f"/{CONTAINER}/a%5c..%5c..%5cescape.txt?{sas}",
    ):
        status, _ = _raw_request(server, "PUT", target, b"evil")
        assert 400 <= status < 500, target
    escaped = [p for p in server.root.rglob("escape.txt")]
    assert escaped == []
    assert not (server.root.parent / "escape.txt").exists()


def test_tampered_signature_is_refused(server: Server) -> None:
    sas = server.sas()
    sig = sas.split("sig=")[1]
    tampered = sas.replace(sig, ("A" if sig[0] != "A" else "B") + sig[1:])
    client = ContainerClient.from_container_url(
        f"{server.url}/{CONTAINER}?{tampered}", retry_total=0
    )
    with pytest.raises(ClientAuthenticationError) as caught:
        client.upload_blob("tampered.txt", b"x")
    assert _code(caught.value) == "AuthenticationFailed"
    assert caught.value.status_code == 403


def test_expired_sas_is_refused(server: Server) -> None:
    expired = generate_container_sas(
        ACCOUNT, KEY, CONTAINER, "racwdl", datetime.now(UTC) - timedelta(minutes=1)
    )
    client = ContainerClient.from_container_url(
        f"{server.url}/{CONTAINER}?{expired}", retry_total=0
    )
    with pytest.raises(ClientAuthenticationError) as caught:
        client.download_blob("small.txt").readall()
    assert caught.value.status_code == 403


def test_read_only_sas_cannot_upload(server: Server) -> None:
    client = server.client("rl")
    with pytest.raises(HttpResponseError) as caught:
        client.upload_blob("readonly.txt", b"x" * 100_000)
    assert caught.value.status_code == 403
    assert _code(caught.value) == "AuthorizationPermissionMismatch"
    with pytest.raises(NotFoundError):
        server.store.get_info(CONTAINER, "readonly.txt")


def test_create_permission_writes_new_blobs_only(server: Server) -> None:
    client = server.client("c")
    client.upload_blob("created.txt", b"new")
    with pytest.raises(HttpResponseError) as caught:
        client.upload_blob("created.txt", b"again", overwrite=True)
    assert caught.value.status_code == 403


def test_sas_for_one_container_never_grants_another(server: Server) -> None:
    sas = server.sas()
    client = ContainerClient.from_container_url(
        f"{server.url}/other-container?{sas}", retry_total=0
    )
    with pytest.raises(ClientAuthenticationError):
        client.upload_blob("x.txt", b"x")
    with pytest.raises(ClientAuthenticationError):
        list(client.list_blobs())


def test_missing_container_is_404(server: Server) -> None:
    client = ContainerClient.from_container_url(
        server.container_url(container="no-such-container"), retry_total=0
    )
    with pytest.raises(ResourceNotFoundError) as caught:
        client.upload_blob("x.txt", b"x")
    assert _code(caught.value) == "ContainerNotFound"
    assert not client.exists()


def test_uncommitted_blocks_are_invisible(server: Server) -> None:
    client = server.client()
    blob = client.get_blob_client("staged.bin")
    blob.stage_block("YmxvY2stMDAwMQ==", b"a" * 1000)
    blob.stage_block("YmxvY2stMDAwMg==", b"b" * 1000)
    assert not blob.exists()
    assert "staged.bin" not in [b.name for b in client.list_blobs()]
    blob.commit_block_list([BlobBlock("YmxvY2stMDAwMg=="), BlobBlock("YmxvY2stMDAwMQ==")])
    assert blob.download_blob().readall() == b"b" * 1000 + b"a" * 1000


def test_committed_blocks_can_be_reused(server: Server) -> None:
    blob = server.client().get_blob_client("reuse.bin")
    blob.stage_block("MDE=", b"one-")
    blob.stage_block("MDI=", b"two-")
    blob.commit_block_list([BlobBlock("MDE="), BlobBlock("MDI=")])
    blob.stage_block("MDM=", b"three")
    blob.commit_block_list([BlobBlock("MDI="), BlobBlock("MDM=")])
    assert blob.download_blob().readall() == b"two-three"
    with pytest.raises(HttpResponseError) as caught:
        blob.commit_block_list([BlobBlock("MDE=")])  # dropped by the last commit
    assert _code(caught.value) == "InvalidBlockList"


def test_range_errors_and_headers(server: Server) -> None:
    server.client().upload_blob("range.bin", b"0123456789", overwrite=True)
    url = f"{server.url}/{CONTAINER}/range.bin?{server.sas()}"
    past = httpx.get(url, headers={"x-ms-range": "bytes=10-20"})
    assert past.status_code == 416
    assert past.headers["x-ms-error-code"] == "InvalidRange"
    assert b"<Code>InvalidRange</Code>" in past.content
    assert httpx.get(url, headers={"Range": "pages=1-2"}).content == b"0123456789"
    part = httpx.get(url, headers={"Range": "bytes=2-4"})
    assert part.status_code == 206
    assert part.content == b"234"
    assert part.headers["content-range"] == "bytes 2-4/10"
    for name in ("etag", "last-modified", "x-ms-request-id", "x-ms-version", "accept-ranges"):
        assert name in part.headers
    head = httpx.head(url)
    assert head.headers["content-length"] == "10"
    assert head.headers["x-ms-blob-type"] == "BlockBlob"
    missing = httpx.head(f"{server.url}/{CONTAINER}/nope.bin?{server.sas()}")
    assert missing.status_code == 404
    assert missing.headers["x-ms-error-code"] == "BlobNotFound"
    md5 = base64.b64encode(hashlib.md5(b"0123456789").digest()).decode()
    assert head.headers["content-md5"] == md5


def test_conditional_requests(server: Server) -> None:
    server.client().upload_blob("cond.txt", b"abc", overwrite=True)
    url = f"{server.url}/{CONTAINER}/cond.txt?{server.sas()}"
    etag = httpx.head(url).headers["etag"]
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(url, headers={"If-Match": etag}).content == b"abc"
    stale = httpx.get(url, headers={"If-Match": '"0x1"'})
    assert stale.status_code == 412
    assert stale.headers["x-ms-error-code"] == "ConditionNotMet"
    put = httpx.put(
        url, content=b"new", headers={"x-ms-blob-type": "BlockBlob", "If-Match": '"0x1"'}
    )
    assert put.status_code == 412
    assert httpx.get(url).content == b"abc"


def test_oversized_block_is_refused(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import openvod.blob.app as blob_app

    monkeypatch.setattr(blob_app, "MAX_BLOCK_BYTES", 1000)
    url = f"{server.url}/{CONTAINER}/big.bin?comp=block&blockid=QUFBQQ%3D%3D&{server.sas()}"
    response = httpx.put(url, content=b"x" * 5000)
    assert response.status_code == 413
    assert response.headers["x-ms-error-code"] == "RequestBodyTooLarge"


def test_memory_store_in_process_with_a_fixed_clock() -> None:
    store = MemoryBlobStore()
    store.create_container(CONTAINER)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    app = create_blob_app(store, account_name=ACCOUNT, account_key=KEY, clock=lambda: now)
    sas = generate_container_sas(ACCOUNT, KEY, CONTAINER, "rwl", now + timedelta(minutes=1))
    late = generate_container_sas(ACCOUNT, KEY, CONTAINER, "rwl", now - timedelta(minutes=1))

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://blob") as client:
            put = await client.put(
                f"/{CONTAINER}/dir/ü file.txt?{sas}",
                content=b"0123456789",
                headers={"x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": "text/plain"},
            )
            assert put.status_code == 201, put.text
            got = await client.get(
                f"/{CONTAINER}/dir/ü file.txt?{sas}", headers={"x-ms-range": "bytes=3-5"}
            )
            assert (got.status_code, got.content) == (206, b"345")
            assert got.headers["content-type"] == "text/plain"
            listed = await client.get(f"/{CONTAINER}?restype=container&comp=list&{sas}")
            assert "<Name>dir/ü file.txt</Name>" in listed.text
            expired = await client.get(f"/{CONTAINER}/dir/ü file.txt?{late}")
            assert expired.status_code == 403

    anyio.run(scenario)
