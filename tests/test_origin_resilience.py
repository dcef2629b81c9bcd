"""``openvod origin`` under load and signals: kill -9 of a serving process, SIGTERM drain."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerHandle, free_port, start_server
from tests.httpd_support import read_head, read_to_close, wait_until
from tests.origin_support import (
    create_asset,
    create_locator,
    ensure_account,
    set_endpoint,
    start_origin,
    stop_process,
)
from tests.test_origin_process import _children

BIG_BYTES = 64 * 1024 * 1024
SMALL_BYTES = 256 * 1024


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerHandle, str, str]]:
    folder = tmp_path_factory.mktemp("resilience")
    server = start_server(folder / "data", None, run_worker=False)
    ensure_account(server)
    set_endpoint(server, True)
    files = []
    for name, size in (("big.mp4", BIG_BYTES), ("small.mp4", SMALL_BYTES)):
        path = folder / name
        with path.open("wb") as f:
            for start in range(0, size, 1 << 20):
                f.write(os.urandom(min(1 << 20, size - start)))
        files.append(path)
    container = create_asset(server, "files", files, None)
    locator = create_locator(server, "files-loc", "files", "Predefined_DownloadOnly")
    yield server, f"/{locator}", container
    server.server.stop()


def _get_on_fresh_connections(url: str, attempts: int = 3) -> httpx.Response:
    """GET on a new connection, again on a refused connect (as players retry).

    With SO_REUSEPORT and the kernel's default ``net.ipv4.tcp_migrate_req = 0``, a
    connection the kernel had queued on the killed process's listening socket is reset
    when that socket goes; on a loaded machine the first connect after the kill can meet
    that. A second connect reaches the survivor.
    """
    for attempt in range(attempts):
        try:
            return httpx.get(url, timeout=30)
        except httpx.ConnectError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _dead(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_kill_9_of_a_serving_process_under_wrk_load(
    published: tuple[ServerHandle, str, str],
) -> None:
    server, base, _ = published
    proc, url = start_origin(server, 2, None)
    try:
        assert wait_until(lambda: len(_children(proc.pid)) == 2)
        children = _children(proc.pid)
        wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d5s", f"{url}{base}/small.mp4"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            with httpx.Client(timeout=30) as client:
                for _ in range(20):  # the load is on
                    assert client.get(f"{url}{base}/small.mp4").status_code == 200
                os.kill(children[0], signal.SIGKILL)
                assert wait_until(lambda: _dead(children[0]), 10)
                for _ in range(50):  # during: the other one serves (fresh connections)
                    response = _get_on_fresh_connections(f"{url}{base}/small.mp4")
                    assert response.status_code == 200 and len(response.content) == SMALL_BYTES
            output = wrk.communicate(timeout=60)[0].decode()
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        served = re.search(r"(\d+) requests in", output)
        assert served is not None and int(served.group(1)) > 0, output
        # replaced: a new pid beside the survivor
        assert wait_until(lambda: len(_children(proc.pid)) == 2
                          and children[0] not in _children(proc.pid), 20)  # fmt: skip
        assert children[1] in _children(proc.pid)
        for _ in range(20):  # after
            assert httpx.get(f"{url}{base}/small.mp4", timeout=30).status_code == 200
    finally:
        stop_process(proc)


@pytest.mark.parametrize("command", ["origin-process", "serve"])
def test_sigterm_lets_a_download_finish_then_exits_0(
    published: tuple[ServerHandle, str, str], command: str
) -> None:
    server, base, container = published
    data_dir = server.ctx.settings.resolved_data_dir
    port = free_port()
    env = dict(os.environ, OPENVOD_LOG_LEVEL="warning", OPENVOD_DATA_DIR=str(data_dir),
               OPENVOD_PORT=str(port), OPENVOD_HOST="127.0.0.1")  # fmt: skip
    argv = [sys.executable, "-m", "openvod.serving.origin_process"]
    if command == "serve":  # the whole service: API + origin and blob listeners
        argv = [str(Path(sys.executable).with_name("openvod")), "serve", "--no-worker",
                "--blob-port", str(free_port())]  # fmt: skip
    proc = subprocess.Popen(argv, env=env)
    try:
        assert wait_until(lambda: _answers(port), 30)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(f"GET {base}/big.mp4 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = read_head(sock)  # most of 64 MiB is still to be sent
            proc.send_signal(signal.SIGTERM)
            assert wait_until(lambda: not _answers(port), 10)  # stopped accepting
            rest, closed = read_to_close(sock)
        assert head.startswith(b"HTTP/1.1 200 ") and closed
        body = head.split(b"\r\n\r\n", 1)[1] + rest
        assert body == server.ctx.store.read_range(container, "big.mp4", 0, BIG_BYTES)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
