"""A worker killed mid-encode leaves nothing running and nothing behind.

``openvod worker`` runs as a real process on the server's data folder; once its
ffmpeg is encoding, the worker gets ``kill -9``. The ffmpeg must die with it
(parent-death signal), a new worker must remove the dead one's work folder when it
starts, and a job whose worker keeps dying ends in Error after ``max_job_attempts``.
Processes are found by scanning /proc (no psutil).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import (
    Asset,
    BuiltInStandardEncoderPreset,
    Job,
    JobInputAsset,
    JobOutputAsset,
    MediaService,
    Transform,
    TransformOutput,
)

from tests.conftest import ACCOUNT, RESOURCE_GROUP, ServerHandle, make_clip, start_server
from tests.test_api_sdk import sdk_client
from tests.test_job_errors import upload

RG, ACC = RESOURCE_GROUP, ACCOUNT
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Running (a zombie waiting for PID 1 to reap it counts as dead)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def children(parent: int, name: str) -> list[int]:
    """Live processes whose name starts with ``name`` (``ffmpeg-linux-x64``, cut to 15
    characters) and whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if comm.startswith(name) and stat is not None and stat[1] == parent and alive(pid):
            found.append(pid)
    return found


def poll(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    server = start_server(tmp_path_factory.mktemp("data"), None, run_worker=False)
    yield server
    server.server.stop()


def start_worker(server: ServerHandle, **env: str) -> subprocess.Popen[bytes]:
    """``openvod worker`` on the server's data folder (its log beside the data)."""
    data = server.ctx.settings.resolved_data_dir
    openvod = Path(sys.executable).with_name("openvod")
    log = (data / "worker.log").open("ab")
    environ = dict(os.environ, OPENVOD_JOB_LEASE_SECONDS="5", **env)
    proc = subprocess.Popen([str(openvod), "worker", "--data-dir", str(data)], env=environ,
                            stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
    log.close()
    return proc


def test_killed_worker_takes_ffmpeg_along_and_its_folder_is_swept(
    site: ServerHandle, tmp_path: Path
) -> None:
    ams: AzureMediaServices = sdk_client(site)
    ams.mediaservices.begin_create_or_update(RG, ACC, MediaService(location="local")).result()
    ams.transforms.create_or_update(RG, ACC, "slow", Transform(outputs=[TransformOutput(
        preset=BuiltInStandardEncoderPreset(preset_name="H264MultipleBitrate720p"))]))
    clip = make_clip(tmp_path / "long.mp4", seconds=30, size="1280x720",
                     extra=["-preset", "ultrafast"])  # fmt: skip
    upload(ams, "long-in", clip)
    ams.assets.create_or_update(RG, ACC, "long-out", Asset())
    ams.jobs.create(RG, ACC, "slow", "doomed", Job(
        input=JobInputAsset(asset_name="long-in"), outputs=[JobOutputAsset(asset_name="long-out")]))
    work = site.ctx.settings.resolved_data_dir / "work"

    first = start_worker(site)
    encoders: list[int] = []
    try:

        def encoding() -> bool:
            encoders[:] = children(first.pid, "ffmpeg")
            return bool(encoders)

        poll(encoding, 120, "the worker's ffmpeg")
        folders = [p for p in work.glob("openvod-job-*") if p.is_dir()]
        assert len(folders) == 1
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        poll(lambda: not any(alive(pid) for pid in encoders), 30, "ffmpeg to die")
        assert folders[0].exists()  # nobody removed it: the worker was killed
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        for pid in encoders:  # never leave an orphan behind, even when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    second = start_worker(site, OPENVOD_MAX_JOB_ATTEMPTS="1")
    try:
        poll(lambda: not folders[0].exists(), 60, "the stale work folder to be removed")
        deadline = time.monotonic() + 120
        job = ams.jobs.get(RG, ACC, "slow", "doomed")
        while job.state != "Error" and time.monotonic() < deadline:
            time.sleep(0.3)
            job = ams.jobs.get(RG, ACC, "slow", "doomed")
        assert job.state == "Error"
        error = job.outputs[0].error
        assert error.code == "ServiceError" and "max_job_attempts=1" in error.message
        assert "started 1 time " in error.message
        assert children(second.pid, "ffmpeg") == []  # it never started the encode again
        assert second.poll() is None
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=15)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
    assert not [p for p in work.glob("openvod-job-*")]
