"""`openvod origin --workers 2`: a stateless multi-process origin over the same data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import m3u8
import pytest

from tests.conftest import ServerHandle, free_port, start_server
from tests.origin_support import (
    create_asset,
    create_locator,
    ensure_account,
    ism_text,
    make_ladder,
    set_endpoint,
)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, str]]:
    folder = tmp_path_factory.mktemp("proc")
    files = make_ladder(folder)
    server = start_server(folder / "data", None)
    ensure_account(server)
    set_endpoint(server, True)
    create_asset(server, "multi", files, ism_text(files))
    locator = create_locator(server, "multi-loc", "multi", "Predefined_ClearStreamingOnly")
    yield server, f"/{locator}/{files[0].stem}.ism"
    server.server.stop()


def test_origin_command_serves_from_several_processes(
    published: tuple[ServerHandle, str],
) -> None:
    server, base = published
    port = free_port()
    openvod = Path(sys.executable).with_name("openvod")
    env = dict(os.environ, OPENVOD_LOG_LEVEL="warning")
    proc = subprocess.Popen(
        [str(openvod), "origin", "--data-dir", str(server.ctx.settings.resolved_data_dir),
         "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}{base}/manifest(format=m3u8-cmaf)"
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert response is not None and response.status_code == 200, response
        master = m3u8.loads(response.text)
        assert len(master.playlists) >= 3
        with server.http() as http:
            same = http.get(f"{base}/manifest(format=m3u8-cmaf)").text
        assert response.text == same  # identical to the in-process origin
        assert len(_children(proc.pid)) >= 2  # the serving processes
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
