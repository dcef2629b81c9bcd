"""openvod's HTTP/1.1 server (openvod.httpd) against real sockets and httpx/http.client."""

from __future__ import annotations

import asyncio
import http.client
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from openvod.httpd import HttpLimits, serve
from openvod.httpd.protocol import AsgiApp, Message, Receive, Scope, Send

FILE_BYTES = 8 * 1024 * 1024
LIMITS = HttpLimits(keepalive_timeout_seconds=1, header_timeout_seconds=1, graceful_seconds=2)


@contextmanager
def running(app: AsgiApp) -> Iterator[int]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields the port."""
    started = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            stop = asyncio.Event()
            state["loop"], state["stop"] = asyncio.get_running_loop(), stop

            def ready(port: int) -> None:
                state["port"] = port
                started.set()

            await serve(app, "127.0.0.1", 0, stop, ready=ready, limits=LIMITS)

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield int(state["port"])
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
        assert not thread.is_alive()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("httpd") / "big.bin"
    path.write_bytes(os.urandom(FILE_BYTES))
    return path


def make_app(big_file: Path) -> AsgiApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        path = scope["path"]
        request: Message = await receive()
        if path == "/hello":
            body = b"hello " + scope["method"].encode() + b" " + scope["query_string"]
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        elif path == "/echo":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": request["body"]})
        elif path == "/chunked":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for part in (b"one,", b"two,", b"three"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/file":
            # a prefix from memory, then two ranges of the file without a copy
            fd = os.open(big_file, os.O_RDONLY)
            try:
                size = 7 + 1000 + (FILE_BYTES - 5000)
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-length", str(size).encode())]})
                await send({"type": "http.response.body", "body": b"prefix:", "more_body": True})
                await send({"type": "http.response.zerocopysend", "file": fd, "offset": 10,
                            "count": 1000, "more_body": True})
                # closed by someone else while the send waits for the socket
                asyncio.get_running_loop().call_soon(os.close, os.dup(fd))
                await send({"type": "http.response.zerocopysend", "file": fd, "offset": 5000,
                            "count": FILE_BYTES - 5000})
            finally:
                os.close(fd)
        elif path == "/pathsend":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.pathsend", "path": str(big_file)})
        elif path == "/receive-after":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})
            assert (await receive())["type"] == "http.disconnect"  # answered: not a hang
        elif path == "/fail-early":
            raise RuntimeError("boom")
        elif path == "/fail-late":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"100")]})
            await send({"type": "http.response.body", "body": b"x" * 10, "more_body": True})
            raise RuntimeError("boom")
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"nope"})

    return app


@pytest.fixture(scope="module")
def port(big_file: Path) -> Iterator[int]:
    with running(make_app(big_file)) as bound:
        yield bound


def test_get_head_and_keep_alive(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/hello?x=1")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b"hello GET x=1"
    assert response.getheader("content-type") == "text/plain"
    assert response.getheader("date", "").endswith("GMT")
    conn.request("HEAD", "/hello")  # same connection: keep-alive
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("content-length") == "11"
    assert response.read() == b""
    conn.request("GET", "/missing")
    response = conn.getresponse()
    assert response.status == 404 and response.read() == b"nope"
    assert response.getheader("content-length") == "4"  # added by the server
    conn.close()


def test_request_body_and_chunked_response(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert client.post("/echo", content=b"payload").content == b"payload"
        assert client.get("/receive-after").content == b"done"
        assert client.get("/hello").status_code == 200  # the connection went on
        response = client.get("/chunked")
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.content == b"one,two,three"


def test_zero_copy_file_ranges_are_byte_exact(port: int, big_file: Path) -> None:
    data = big_file.read_bytes()
    expected = b"prefix:" + data[10:1010] + data[5000:]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)  # let the server's socket fill: the rest goes the waiting way
        received = _read_response(sock)
    head, body = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK") and body == expected
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert client.get("/pathsend").content == data


def _read_response(sock: socket.socket) -> bytes:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head = buffer.split(b"\r\n\r\n", 1)[0]
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))  # fmt: skip
    while len(buffer) < len(head) + 4 + length:
        chunk = sock.recv(1 << 20)
        assert chunk, "connection closed early"
        buffer += chunk
    return buffer


def test_a_repeated_response_has_the_same_head(port: int) -> None:
    """Header lines are validated once and remembered; the framing is decided every time."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        heads = []
        for _ in range(3):
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = _read_response(sock).split(b"\r\n\r\n", 1)
            assert body == b"hello GET "
            heads.append([ln for ln in head.split(b"\r\n") if not ln.startswith(b"date:")])
    assert heads[0] == heads[1] == heads[2]
    assert heads[0] == [b"HTTP/1.1 200 OK", b"content-type: text/plain", b"content-length: 10"]


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /hello?a HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello?b HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /hello?c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    bodies = [part.split(b"\r\n\r\n", 1)[1][:12] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [b"hello GET a", b"hello GET b", b"hello GET c"]


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_bad_requests_get_a_status_and_a_close(port: int) -> None:
    assert _raw(port, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    huge = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert _raw(port, huge).startswith(b"HTTP/1.1 431 ")
    early = _raw(port, b"GET /fail-early HTTP/1.1\r\nHost: x\r\n\r\n")
    assert early.startswith(b"HTTP/1.1 500 ")
    late = _raw(port, b"GET /fail-late HTTP/1.1\r\nHost: x\r\n\r\n")
    assert late.startswith(b"HTTP/1.1 200 ") and late.endswith(b"x" * 10)  # closed: short body
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:  # still serving
        assert client.get("/hello").status_code == 200


def test_http_1_0_closes_unless_asked_to_keep_alive(port: int) -> None:
    data = _raw(port, b"GET /hello HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.0 200 OK") and b"connection: close" in data.lower()


def test_idle_keep_alive_connections_are_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(sock).endswith(b"hello GET ")
        assert sock.recv(1) == b""  # closed by the server after ~1 s idle (else: timeout)


def test_a_request_trickled_in_slower_than_the_idle_timeout_is_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\n")
        closed = False
        for _ in range(8):  # a header line every 0.5 s: never idle, never complete
            time.sleep(0.5)
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
        if not closed:
            try:
                closed = sock.recv(1) == b""
            except ConnectionResetError:
                closed = True
        assert closed
