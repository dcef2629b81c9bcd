"""Shared fixtures: a real openvod server on 127.0.0.1, SDK clients, generated media."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from openvod.config import Settings
from openvod.context import Context, open_context
from openvod.encoding.tools import ffmpeg
from openvod.services.tokens import create_token
from openvod.serving.serve import Server

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
RESOURCE_GROUP = "rg-test"
ACCOUNT = "testaccount"
PG_URL = os.environ.get("OPENVOD_TEST_DATABASE_URL")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerHandle:
    """A running openvod server and what tests need to talk to it."""

    ctx: Context
    base_url: str
    blob_url: str
    token: str
    server: Server

    def http(self) -> httpx.Client:
        """An httpx client with the bearer token."""
        return httpx.Client(base_url=self.base_url,
                            headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    @property
    def account_path(self) -> str:
        """The test account's ARM path."""
        return (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
                f"/providers/Microsoft.Media/mediaservices/{ACCOUNT}")


def reset_postgres(url: str) -> None:
    """Empty the test database so every server starts from a clean schema."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


def start_server(data_dir: Path, database_url: str | None, **settings: object) -> ServerHandle:
    """Start all components on free ports and wait for /healthz."""
    port, blob_port = free_port(), free_port()
    cfg = Settings(data_dir=data_dir, database_url=database_url, port=port, blob_port=blob_port,
                   job_lease_seconds=10, **settings)  # type: ignore[arg-type]
    ctx = open_context(cfg)
    with ctx.session() as session:
        token = create_token(session, "tests")
    server = Server(ctx)
    threading.Thread(target=server.run, daemon=True).start()
    base = cfg.resolved_public_url
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", verify=False, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    else:
        raise RuntimeError("server did not start")
    return ServerHandle(ctx, base, cfg.resolved_blob_public_url, token, server)


def _db_params() -> list[object]:
    marks = pytest.mark.skipif(PG_URL is None, reason="OPENVOD_TEST_DATABASE_URL not set")
    return ["sqlite", pytest.param("postgresql", marks=marks)]


@pytest.fixture(scope="module", params=_db_params())
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """An openvod server per test module and database (SQLite; PostgreSQL when configured)."""
    url = None
    if request.param == "postgresql":
        assert PG_URL is not None
        reset_postgres(PG_URL)
        url = PG_URL
    handle = start_server(tmp_path_factory.mktemp("data"), url)
    yield handle
    handle.server.stop()
    time.sleep(0.3)
    handle.ctx.engine.dispose()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """An openvod server on SQLite only (for the slow encode tests)."""
    handle = start_server(tmp_path_factory.mktemp("data"), None)
    yield handle
    handle.server.stop()


def make_clip(path: Path, *, seconds: float, size: str, rate: str = "25",
              audio: bool = True, extra: list[str] | None = None) -> Path:
    """Generate a test clip with ffmpeg's lavfi sources."""
    cmd = [str(ffmpeg()), "-v", "error", "-y", "-f", "lavfi",
           "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "128k"]
    cmd += (extra or []) + [str(path)]
    subprocess.run(cmd, check=True)
    return path


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-s 320x180 clip with audio."""
    return make_clip(tmp_path_factory.mktemp("media") / "small.mp4", seconds=4, size="320x180")
