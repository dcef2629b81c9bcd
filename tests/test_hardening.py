"""The limits of openvod's HTTP server, on real sockets: slow, stalled, greedy and broken clients.

Every test asserts on what a client sees (statuses, bytes, a closed socket) or on
what the server holds (its connection count, this process's descriptors); waits
are bounded only to fail instead of hanging.
"""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openvod.httpd import HttpLimits
from openvod.httpd.protocol import AsgiApp, Message, Receive, Scope, Send
from openvod.serving.tls import ensure_dev_certificate
from tests.httpd_support import (
    Running,
    open_descriptors,
    read_head,
    read_to_close,
    running,
    stalled_socket,
    wait_until,
)

BIG_BYTES = 64 * 1024 * 1024
LIMITS = HttpLimits(header_timeout_seconds=1, body_timeout_seconds=1, send_timeout_seconds=1,
                    keepalive_timeout_seconds=5, max_body_bytes=256 * 1024 * 1024,
                    graceful_seconds=20, linger_seconds=1)  # fmt: skip
SEEN: dict[str, list[Message]] = {}


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hardening") / "big.bin"
    with path.open("wb") as f:
        for _ in range(BIG_BYTES // (1 << 20)):
            f.write(os.urandom(1 << 20))
    return path


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


def make_app(big_file: Path) -> AsgiApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/pathsend":
            await _start(send, 200, [])
            await send({"type": "http.response.pathsend", "path": str(big_file)})
        elif path == "/bytes":  # 64 MiB from memory, 1 MiB per message
            await _start(send, 200, [(b"content-length", str(BIG_BYTES).encode())])
            part = b"x" * (1 << 20)
            for index in range(BIG_BYTES >> 20):
                await send({"type": "http.response.body", "body": part,
                            "more_body": index < (BIG_BYTES >> 20) - 1})  # fmt: skip
        elif path == "/upload":  # reads the whole body; answers its size, md5, largest message
            digest, size, largest, messages = hashlib.md5(), 0, 0, []
            while True:
                message = await receive()
                messages.append({"type": message["type"]})
                if message["type"] != "http.request":
                    SEEN.setdefault(scope["query_string"].decode(), []).extend(messages)
                    return
                digest.update(message["body"])
                size += len(message["body"])
                largest = max(largest, len(message["body"]))
                if not message.get("more_body"):
                    break
            text = f"{size} {digest.hexdigest()} {largest}".encode()
            await _start(send, 200, [(b"content-length", str(len(text)).encode())])
            await send({"type": "http.response.body", "body": text})
        elif path == "/refuse":  # answers without reading the body
            await _start(send, 403, [(b"content-length", b"6")])
            await send({"type": "http.response.body", "body": b"nope!\n"})
        elif path == "/inject":
            await _start(send, 200, [(b"x-ok", b"1\r\nx-evil: 1")])
            await send({"type": "http.response.body", "body": b"never"})
        else:
            await _start(send, 200, [(b"content-length", b"2")])
            await send({"type": "http.response.body", "body": b"ok"})

    return app


@pytest.fixture(scope="module")
def server(big_file: Path) -> Iterator[Running]:
    with running(make_app(big_file), LIMITS) as handle:
        yield handle


def _ok(port: int) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/hello", timeout=30).status_code


@pytest.mark.parametrize("path", ["/pathsend", "/bytes"])
def test_a_client_that_stops_reading_is_dropped_and_its_descriptor_freed(
    server: Running, path: str
) -> None:
    assert wait_until(lambda: server.connections() == 0)
    before = open_descriptors()
    sock = stalled_socket(server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    try:
        assert wait_until(lambda: server.connections() == 1, 10)
        assert _ok(server.port) == 200  # others are served meanwhile
        # dropped by the send timeout: not after the whole 64 MiB (the client reads nothing)
        assert wait_until(lambda: server.connections() == 0, 30)
        assert open_descriptors() <= before + 1  # only our client socket is left
    finally:
        sock.close()
    assert wait_until(lambda: open_descriptors() <= before)


def test_a_client_that_disconnects_mid_sendfile_leaves_nothing_behind(
    server: Running, big_file: Path
) -> None:
    assert wait_until(lambda: server.connections() == 0)
    before = open_descriptors()
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"GET /pathsend HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_head(sock).startswith(b"HTTP/1.1 200 ")
        sock.recv(100_000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # a reset in the middle of the file
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
        assert client.get("/pathsend").content == big_file.read_bytes()
    assert wait_until(lambda: server.connections() == 0)
    assert wait_until(lambda: open_descriptors() <= before)


def test_500_idle_connections_do_not_keep_others_out(big_file: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    limits = HttpLimits(header_timeout_seconds=60, keepalive_timeout_seconds=60)
    with running(make_app(big_file), limits) as handle:
        idle = [socket.create_connection(("127.0.0.1", handle.port), timeout=10)
                for _ in range(500)]  # fmt: skip
        try:
            assert wait_until(lambda: handle.connections() == 500)
            assert _ok(handle.port) == 200
            with httpx.Client(base_url=f"http://127.0.0.1:{handle.port}", timeout=30) as c:
                assert len(c.get("/pathsend").content) == BIG_BYTES
        finally:
            for sock in idle:
                sock.close()


def test_connections_over_the_limit_get_503_and_are_closed(big_file: Path) -> None:
    limits = HttpLimits(max_connections=10, header_timeout_seconds=60)
    with running(make_app(big_file), limits) as handle:
        held = [socket.create_connection(("127.0.0.1", handle.port)) for _ in range(10)]
        try:
            assert wait_until(lambda: handle.connections() == 10)
            with socket.create_connection(("127.0.0.1", handle.port), timeout=10) as extra:
                data, closed = read_to_close(extra)
            assert data.startswith(b"HTTP/1.1 503 ") and closed
        finally:
            for sock in held:
                sock.close()
        assert wait_until(lambda: handle.connections() == 0)
        assert _ok(handle.port) == 200  # below the limit again


def test_a_head_trickled_byte_by_byte_is_cut_off(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        closed = False
        for byte in b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if wait_until(lambda: server.connections() == 0, 0.1):
                closed = True
                break
        assert closed  # cut by the header timeout long before the head could end
    assert wait_until(lambda: server.connections() == 0)


def test_a_20_mb_header_is_refused_without_being_buffered(server: Running) -> None:
    sent = [0]

    def send_all(sock: socket.socket) -> None:
        try:
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ")
            piece = b"a" * (1 << 20)
            for _ in range(20):
                sock.sendall(piece)
                sent[0] += len(piece)
        except OSError:
            pass

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sender = threading.Thread(target=send_all, args=(sock,))
        sender.start()
        head = read_head(sock)
        sender.join(30)
    assert head.startswith(b"HTTP/1.1 431 ")
    assert sent[0] < 20 * (1 << 20)  # the server closed before taking it all
    too_many = b"GET /hello HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(too_many + b"\r\n")
        assert read_head(sock).startswith(b"HTTP/1.1 431 ")


def test_a_stalled_body_ends_with_a_disconnect_for_the_app(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /upload?stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
                     b"\r\n0123456789")  # fmt: skip
        data, closed = read_to_close(sock)
    assert closed and data == b""
    assert wait_until(lambda: bool(SEEN.get("stalled")))
    assert SEEN["stalled"][-1]["type"] == "http.disconnect"


@pytest.mark.parametrize("chunked", [False, True])
def test_large_bodies_stream_through_a_bounded_queue(server: Running, chunked: bool) -> None:
    payload = os.urandom(48 * 1024 * 1024)

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(payload), 1 << 20):
            yield payload[start : start + (1 << 20)]

    content = pieces() if chunked else payload
    with httpx.Client(timeout=60) as client:
        response = client.put(f"http://127.0.0.1:{server.port}/upload", content=content)
    size, digest, largest = response.text.split()
    assert response.status_code == 200
    assert int(size) == len(payload) and digest == hashlib.md5(payload).hexdigest()
    # the app got the body in pieces no larger than the queue's mark plus one socket read
    assert int(largest) <= LIMITS.body_buffer_bytes + 512 * 1024


def test_body_size_limits_apply_before_the_body_is_read(big_file: Path) -> None:
    limits = HttpLimits(max_body_bytes=1024 * 1024)
    with running(make_app(big_file), limits) as handle:
        with socket.create_connection(("127.0.0.1", handle.port), timeout=10) as sock:
            sock.sendall(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
            data, closed = read_to_close(sock)
        assert data.startswith(b"HTTP/1.1 413 ") and closed
        chunk = b"%x\r\n%s\r\n" % (256 * 1024, b"z" * 256 * 1024)
        with socket.create_connection(("127.0.0.1", handle.port), timeout=10) as sock:
            sock.sendall(b"PUT /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            try:
                for _ in range(8):  # 2 MiB: over the limit half way
                    sock.sendall(chunk)
            except OSError:
                pass
            data, closed = read_to_close(sock)
        assert data.startswith(b"HTTP/1.1 413 ")


def test_an_early_answer_does_not_read_a_large_body(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 209715200\r\n\r\n")
        sock.sendall(b"a" * 65536)
        data, closed = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 403 ") and b"connection: close" in data.lower()
    assert closed
    # a small remainder is dropped and the connection kept
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        head = read_head(sock)
        sock.sendall(b"b" * 1000 + b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, closed = read_to_close(sock)
    assert head.startswith(b"HTTP/1.1 403 ") and b"connection: close" not in head.lower()
    assert b"HTTP/1.1 200 OK" in head + data and (head + data).endswith(b"ok")


def test_expect_100_continue(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")  # fmt: skip
        assert read_head(sock) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        assert read_head(sock).startswith(b"HTTP/1.1 200 ")


def test_header_injection_becomes_a_500_logged_once(
    server: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with (caplog.at_level(logging.ERROR, logger="openvod.httpd"),
          socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock):
        sock.sendall(b"GET /inject HTTP/1.1\r\nHost: x\r\n\r\n")
        data, _ = read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b"x-evil" not in data.lower() and b"never" not in data
    assert len([r for r in caplog.records if "not valid" in r.getMessage()]) == 1
    assert _ok(server.port) == 200


def test_a_pipelined_burst_over_the_cap_is_closed(server: Running) -> None:
    burst = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n" * 200
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(burst)
        data, closed = read_to_close(sock)
    answered = data.count(b"HTTP/1.1 200 OK")
    assert closed and 0 < answered < 200


def test_stop_lets_a_download_in_flight_finish(big_file: Path) -> None:
    with running(make_app(big_file), HttpLimits(graceful_seconds=30)) as handle:
        idle = socket.create_connection(("127.0.0.1", handle.port), timeout=10)
        sock = socket.create_connection(("127.0.0.1", handle.port), timeout=10)
        sock.sendall(b"GET /pathsend HTTP/1.1\r\nHost: x\r\n\r\n")
        head = read_head(sock)  # the rest of 64 MiB is in flight: not read yet
        handle.request_stop()
        assert wait_until(lambda: _refused(handle.port), 10)  # no new connections
        data, closed = read_to_close(sock)
        body = head.split(b"\r\n\r\n", 1)[1] + data
        assert closed and body == big_file.read_bytes()
        assert read_to_close(idle) == (b"", True)  # the idle one was closed
        handle.thread.join(30)
        assert not handle.thread.is_alive()
        sock.close()
        idle.close()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return True
    return False


def test_tls(big_file: Path, tmp_path: Path) -> None:
    cert, key = ensure_dev_certificate(tmp_path, "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    trust = ssl.create_default_context(cafile=str(cert))
    with running(make_app(big_file), LIMITS, ssl_context=context) as handle, httpx.Client(
        base_url=f"https://127.0.0.1:{handle.port}", verify=trust, timeout=60
    ) as client:
        assert client.get("/hello").text == "ok"
        assert client.get("/pathsend").content == big_file.read_bytes()  # no sendfile
        payload = os.urandom(3 * 1024 * 1024)
        size, digest, _ = client.put("/upload", content=payload).text.split()
        assert int(size) == len(payload) and digest == hashlib.md5(payload).hexdigest()


def test_after_a_dropped_remainder_the_idle_connection_is_closed(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(b"PUT /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        head = read_head(sock)
        sock.sendall(b"b" * 1000)
        data, closed = read_to_close(sock)  # keep-alive timeout (5 s), not a hang
    assert head.startswith(b"HTTP/1.1 403 ") and closed and (head + data).endswith(b"nope!\n")


def test_an_upgrade_request_is_answered_and_closed(server: Running) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                     b"Upgrade: websocket\r\n\r\n")  # fmt: skip
        data, closed = read_to_close(sock)
    assert closed and data.startswith(b"HTTP/1.1 ")
    assert wait_until(lambda: server.connections() == 0)


def test_a_stalled_reader_over_tls_is_dropped(big_file: Path, tmp_path: Path) -> None:
    cert, key = ensure_dev_certificate(tmp_path, "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    trust = ssl.create_default_context(cafile=str(cert))
    with running(make_app(big_file), LIMITS, ssl_context=context) as handle:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", handle.port))
        with trust.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET /pathsend HTTP/1.1\r\nHost: x\r\n\r\n")
            assert wait_until(lambda: handle.connections() == 1, 10)
            assert wait_until(lambda: handle.connections() == 0, 30)  # never read: dropped
