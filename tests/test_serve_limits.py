"""``openvod serve`` on openvod's HTTP server: stalled clients cannot freeze it (issue 11).

Both listeners (API + origin, blob service) are driven with raw sockets that
stall in every way a careless or hostile client can, while a second client
uses the service; assertions are on statuses and bytes, never on time.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerHandle, start_server
from tests.httpd_support import read_head, read_to_close, stalled_socket, wait_until
from tests.origin_support import api, create_asset, create_locator, ensure_account, set_endpoint

BIG_BYTES = 32 * 1024 * 1024
STALLED = 100


class Published:
    """A server with a big file downloadable from the origin and a container SAS."""

    def __init__(self, server: ServerHandle, download_path: str, container: str, sas: str,
                 data: bytes) -> None:  # fmt: skip
        self.server = server
        self.download_path = download_path
        self.container = container
        self.sas = sas
        self.data = data

    def blob_url(self, name: str) -> str:
        return f"{self.server.blob_url}/{self.container}/{name}?{self.sas}"

    def blob_port(self) -> int:
        return int(self.server.blob_url.rsplit(":", 1)[1])

    def api_port(self) -> int:
        return int(self.server.base_url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    folder = tmp_path_factory.mktemp("limits")
    server = start_server(folder / "data", None, body_timeout_seconds=3, send_timeout_seconds=3,
                          header_timeout_seconds=5, run_worker=False)  # fmt: skip
    try:
        ensure_account(server)
        set_endpoint(server, True)
        data = os.urandom(BIG_BYTES)
        big = folder / "big.mp4"
        big.write_bytes(data)
        container = create_asset(server, "big", [big], None)
        locator = create_locator(server, "big-loc", "big", "Predefined_DownloadOnly")
        expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        urls = api(server, "POST", "/assets/big/listContainerSas",
                   {"permissions": "ReadWrite", "expiryTime": expiry})["assetContainerSasUrls"]
        sas = urls[0].split("?", 1)[1]
        yield Published(server, f"/{locator}/big.mp4", container, sas, data)
    finally:
        server.server.stop()


def test_stalled_uploads_and_readers_do_not_freeze_the_server(published: Published) -> None:
    blob_port, api_port = published.blob_port(), published.api_port()
    upload = (f"PUT /{published.container}/stalled-INDEX?{published.sas} HTTP/1.1\r\n"
              "Host: x\r\nx-ms-blob-type: BlockBlob\r\nContent-Length: 1000000\r\n\r\n"
              "0123456789")  # fmt: skip
    get_blob = f"GET /{published.container}/big.mp4?{published.sas} HTTP/1.1\r\nHost: x\r\n\r\n"
    download = f"GET {published.download_path} HTTP/1.1\r\nHost: x\r\n\r\n"
    stalled = []
    try:
        for index in range(STALLED):
            stalled.append(stalled_socket(blob_port, upload.replace("INDEX", str(index)).encode()))
        for index in range(STALLED):
            port, request = (blob_port, get_blob) if index % 2 else (api_port, download)
            stalled.append(stalled_socket(port, request.encode()))
        for port in (api_port, blob_port):  # idle, and a head that never ends
            for request in ("", "GET /healthz HTTP/1.1\r\nHost: x\r\n"):
                stalled += [stalled_socket(port, request.encode()) for _ in range(10)]
        with httpx.Client(timeout=60) as client:
            assert client.get(f"{published.server.base_url}/healthz").status_code == 200
            got = client.get(published.blob_url("big.mp4"), headers={"x-ms-range": "bytes=0-1023"})
            assert got.status_code == 206 and got.content == published.data[:1024]
            whole = client.get(published.blob_url("big.mp4"))
            assert whole.status_code == 200 and whole.content == published.data
            download_ok = client.get(published.server.base_url + published.download_path)
            assert download_ok.status_code == 200 and download_ok.content == published.data
            with published.server.http() as http:  # the management API answers too
                assert http.get(f"{published.server.account_path}/assets",
                                params={"api-version": "2022-08-01"}).status_code == 200
        # every stalled client is dropped by a timeout, not left holding the server
        listeners = published.server.server.listeners
        assert wait_until(lambda: sum(len(s.connections) for s in listeners) == 0, 60)
        for index, sock in enumerate(stalled):
            data, closed = read_to_close(sock, limit_bytes=BIG_BYTES * 2)
            assert closed, (index, len(data), data[:300])
    finally:
        for sock in stalled:
            sock.close()
    names = [b.name for b in published.server.ctx.store.list_blobs(published.container)]
    assert not any(name.startswith("stalled-") for name in names)  # no partial blob left


def test_a_refused_upload_is_answered_before_its_body(published: Published) -> None:
    with socket.create_connection(("127.0.0.1", published.blob_port()), timeout=30) as sock:
        sock.sendall(f"PUT /{published.container}/nope.bin HTTP/1.1\r\nHost: x\r\n"
                     "x-ms-blob-type: BlockBlob\r\nContent-Length: 209715200\r\n\r\n".encode())
        sock.sendall(b"a" * 65536)  # then nothing more: the answer must come anyway
        head = read_head(sock)
        rest, closed = read_to_close(sock)
    assert head.startswith(b"HTTP/1.1 403 ") and b"connection: close" in head.lower()
    assert closed


def test_api_bodies_over_the_limit_are_refused_unread(published: Published) -> None:
    with socket.create_connection(("127.0.0.1", published.api_port()), timeout=30) as sock:
        sock.sendall(f"PUT {published.server.account_path}/assets/x?api-version=2022-08-01 "
                     "HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 104857600\r\n\r\n".encode())  # fmt: skip
        assert read_head(sock).startswith(b"HTTP/1.1 413 ")


def test_serve_over_tls(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", None, tls=True, run_worker=False)
    try:
        cert = server.ctx.settings.resolved_data_dir / "tls" / "cert.pem"
        trust = ssl.create_default_context(cafile=str(cert))
        assert server.base_url.startswith("https://")
        with httpx.Client(base_url=server.base_url, verify=trust, timeout=30,
                          headers={"Authorization": f"Bearer {server.token}"}) as client:
            assert client.get("/healthz").status_code == 200
            created = client.put(f"{server.account_path}?api-version=2022-08-01",
                                 json={"location": "local"})
            assert created.status_code in (200, 201), created.text
            assert client.get("/openapi.json").json()["info"]["title"] == "openvod"
    finally:
        server.server.stop()
        assert wait_until(lambda: not _listening(server.base_url), 30)


def _listening(base_url: str) -> bool:
    port = int(base_url.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def test_sdk_uploads_in_4_mib_blocks_stream_through(published: Published) -> None:
    from azure.storage.blob import ContainerClient

    container_url = f"{published.server.blob_url}/{published.container}?{published.sas}"
    client = ContainerClient.from_container_url(
        container_url, max_single_put_size=4 * 1024 * 1024, max_block_size=4 * 1024 * 1024
    )
    data = os.urandom(9 * 1024 * 1024 + 7)
    client.upload_blob("blocks.bin", data, max_concurrency=3)  # Put Block x3 + Put Block List
    single = os.urandom(3 * 1024 * 1024)
    client.upload_blob("single.bin", single)  # one streamed Put Blob
    with httpx.Client(timeout=60) as http:
        assert http.get(published.blob_url("blocks.bin")).content == data
        assert http.get(published.blob_url("single.bin")).content == single
