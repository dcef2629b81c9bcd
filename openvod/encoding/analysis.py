"""Measurements of a source that some built-in presets need before planning.

- :func:`measure_bits_per_pixel`: the content-aware presets' fast probe
  encode (a few sampled seconds, 360 lines, x264 veryfast CRF 23);
- :func:`source_keyframe_times`: the source's keyframes, for the
  ``Saas*Aligned`` presets whose proxies keep the source's GOPs.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import tempfile
from pathlib import Path

from openvod.encoding.processes import child_options
from openvod.encoding.tools import ffmpeg, ffprobe
from openvod.errors import EncodeError

log = logging.getLogger(__name__)

PROBE_HEIGHT = 360
PROBE_CRF = 23
SAMPLE_SECONDS = 1.0  # length of one sampled window
SAMPLE_WINDOWS = 4  # windows spread over the source
PROBE_TIMEOUT_SECONDS = 600
MAX_KEYFRAMES = 20000  # a source with more keyframes than this is not GOP-aligned material


def _windows(start: float, duration: float) -> list[tuple[float, float]]:
    """(start, length) of the sampled windows: the whole source when it is short."""
    if duration <= SAMPLE_SECONDS * SAMPLE_WINDOWS:
        return [(start, duration)]
    step = duration / SAMPLE_WINDOWS
    return [(start + step * (i + 0.5) - SAMPLE_SECONDS / 2, SAMPLE_SECONDS)
            for i in range(SAMPLE_WINDOWS)]  # fmt: skip


def measure_bits_per_pixel(
    path: Path,
    *,
    start_seconds: float,
    duration_seconds: float,
    frame_rate: float,
) -> float:
    """Bits per pixel per frame x264 needs at a fixed quality (CRF 23) on sampled seconds."""
    windows = _windows(start_seconds, duration_seconds)
    argv = [str(ffmpeg()), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    for at, length in windows:
        argv += ["-ss", f"{at:.3f}", "-t", f"{length:.3f}", "-i", str(path)]
    chains = "".join(f"[{i}:v:0]" for i in range(len(windows)))
    width = PROBE_HEIGHT * 16 // 9 // 2 * 2
    graph = (
        f"{chains}concat=n={len(windows)}:v=1:a=0,"
        f"scale={width}:{PROBE_HEIGHT}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
        f"fps={frame_rate:.6f},setsar=1,format=yuv420p[v]"
    )
    with tempfile.TemporaryDirectory(prefix="openvod-cae-") as temp:
        out = Path(temp) / "probe.h264"
        argv += ["-filter_complex", graph, "-map", "[v]", "-c:v", "libx264",
                 "-preset", "veryfast", "-crf", str(PROBE_CRF), "-f", "h264", str(out)]  # fmt: skip
        log.info("content-aware probe: %s", shlex.join(argv))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False,
                                  timeout=PROBE_TIMEOUT_SECONDS, **child_options())  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise EncodeError("The content-aware analysis of the input took too long") from exc
        if done.returncode != 0 or not out.is_file():
            reason = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise EncodeError(f"The content-aware analysis could not encode the input: {reason[0]}")
        bits = out.stat().st_size * 8
        w, h = _probe_size(out)
    frames = max(1.0, sum(length for _, length in windows) * frame_rate)
    return bits / (w * h * frames)


def _probe_size(path: Path) -> tuple[int, int]:
    done = subprocess.run(
        [str(ffprobe()), "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=60, check=False, **child_options(),
    )  # fmt: skip
    try:
        w, h = (int(x) for x in done.stdout.strip().split(",")[:2])
    except ValueError as exc:
        raise EncodeError("The content-aware analysis produced no picture") from exc
    return w, h


def source_keyframe_times(path: Path, stream_index: int) -> tuple[float, ...]:
    """The presentation times (seconds from the first frame) of the stream's keyframes."""
    done = subprocess.run(
        [str(ffprobe()), "-v", "error", "-select_streams", str(stream_index),
         "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=300, check=False, **child_options(),
    )  # fmt: skip
    times: list[float] = []
    for line in done.stdout.splitlines():
        pts, _, flags = line.partition(",")
        if "K" in flags and pts not in ("", "N/A"):
            times.append(float(pts))
    if not times or len(times) > MAX_KEYFRAMES:
        raise EncodeError(f"The input file '{path.name}' has no usable keyframes to align to")
    first = min(times)
    return tuple(sorted({round(t - first, 6) for t in times}))
