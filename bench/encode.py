"""Benchmark: an AdaptiveStreaming job's wall time vs. the same ffmpeg command run bare.

Runs a real openvod server (SQLite, local storage), submits AdaptiveStreaming jobs
through the management API like a user, and times submit → Finished. The exact
ffmpeg command the worker ran is captured from the encoder's log and run bare on
the same clip. Prints medians of N runs, the ratio job ÷ bare (goal ≤ 1.05) and
the realtime factor (clip seconds ÷ job seconds).

    .venv/bin/python bench/encode.py [--runs 3] [--seconds 10] [--size 1920x1080]
"""

from __future__ import annotations

import argparse
import logging
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openvod.client.rest import OpenvodClient  # noqa: E402
from tests.conftest import make_clip, start_server  # noqa: E402


class _CommandCapture(logging.Handler):
    """Keeps the last ffmpeg command the encoder logged."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.argv: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("running: "):
            self.argv = shlex.split(record.getMessage()[len("running: "):])


def _job_seconds(client: OpenvodClient, asset: str) -> float:
    output, job = f"out-{uuid.uuid4().hex[:8]}", f"job-{uuid.uuid4().hex[:8]}"
    client.call("PUT", f"/assets/{output}", {"properties": {}})
    start = time.perf_counter()
    client.call("PUT", f"/transforms/adaptive/jobs/{job}", {"properties": {
        "input": {"@odata.type": "#Microsoft.Media.JobInputAsset", "assetName": asset},
        "outputs": [{"@odata.type": "#Microsoft.Media.JobOutputAsset", "assetName": output}],
    }})
    while True:
        state = client.call("GET", f"/transforms/adaptive/jobs/{job}")["properties"]["state"]
        if state in ("Finished", "Error", "Canceled"):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if state != "Finished":
        raise SystemExit(f"job ended {state}")
    return elapsed


def _bare_seconds(argv: list[str]) -> float:
    # The command writes into the encoder's scratch folders; recreate them.
    for arg in argv:
        if "openvod-encode-" in arg:
            Path(arg).parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args()
    capture = _CommandCapture()
    logging.getLogger("openvod.encoding.runner").addHandler(capture)
    logging.getLogger("openvod.encoding.runner").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "bench.mp4", seconds=args.seconds, size=args.size,
                         extra=["-b:v", "8M"])
        handle = start_server(Path(tmp) / "data", None)
        client = OpenvodClient(handle.base_url, handle.token)
        client.ensure_account()
        from openvod.client.workflow import upload_file

        upload_file(client, clip, "bench", lambda *_: None)
        client.call("PUT", "/transforms/adaptive", {"properties": {"outputs": [{"preset": {
            "@odata.type": "#Microsoft.Media.BuiltInStandardEncoderPreset",
            "presetName": "AdaptiveStreaming"}}]}})
        jobs, bares = [], []
        _job_seconds(client, "bench")  # warm-up, and captures the command
        for run in range(args.runs):
            # Alternate the order so drift in machine load hits both sides alike.
            if run % 2:
                bares.append(_bare_seconds(capture.argv))
                jobs.append(_job_seconds(client, "bench"))
            else:
                jobs.append(_job_seconds(client, "bench"))
                bares.append(_bare_seconds(capture.argv))
            print(f"run {run + 1}: job {jobs[-1]:.2f} s, bare ffmpeg {bares[-1]:.2f} s, "
                  f"ratio {jobs[-1] / bares[-1]:.3f}")
        handle.server.stop()
    job, bare = statistics.median(jobs), statistics.median(bares)
    print(f"clip: {args.seconds} s {args.size}; ffmpeg: {shlex.join(capture.argv)[:200]}...")
    print(f"median job wall time   {job:.2f} s")
    print(f"median bare ffmpeg     {bare:.2f} s")
    ratios = [j / b for j, b in zip(jobs, bares, strict=True)]
    print(f"ratio job / bare       {statistics.median(ratios):.3f}   (median of per-run "
          f"ratios; goal <= 1.05)")
    print(f"realtime factor        {args.seconds / job:.2f}x")


if __name__ == "__main__":
    main()
