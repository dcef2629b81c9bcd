"""``openvod demo`` (what ``make run`` starts) prints progress bars and URLs, nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow


def test_demo_prints_progress_and_urls_only(tmp_path: Path) -> None:
    openvod = Path(sys.executable).with_name("openvod")
    env = {k: v for k, v in os.environ.items() if k != "OPENVOD_LOG_LEVEL"}
    done = subprocess.run(
        [str(openvod), "demo", "--exit", "--data-dir", str(tmp_path / "data"),
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "manifest(format=m3u8-aapl)" in out and "Download" in out
    assert "100.0%" in out  # the progress bars
    for noise in ("HTTP Request", " INFO ", "INFO:", "alembic", "running:", "Traceback"):
        assert noise not in out, out
    urls = [line for line in out.splitlines() if "http://127.0.0.1:" in line]
    other = [line for line in out.splitlines()
             if line.strip() and line not in urls and "%" not in line]  # fmt: skip
    assert all(line.startswith(("asset ", "API token", "  ")) for line in other), other
