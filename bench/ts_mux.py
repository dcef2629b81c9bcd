"""Micro-benchmark: CPU time of ``mux_ts_segment`` for one HLS TS segment, in isolation.

Encodes (once, kept under ``bench/out/ts_mux/``) 6 s of 1280x720@25 H.264 with
2-s GOPs and temporal noise (so x264 spends the whole bitrate, like real
footage) at 3 Mb/s and at 1.4 Mb/s, plus 48 kHz stereo AAC at 128 kb/s, reads
the sample index like the origin does, and times muxing the second 2-s GOP as
a video-only segment (m3u8-aapl), the same seconds of AAC as an audio-only
segment, and both together (m3u8-aapl-v3). Prints the median and p10 µs per
segment over ``--repeat`` runs, in interleaved rounds so that a busy shared
machine hurts every variant alike. glibc malloc is tuned as in the serving
processes (``openvod.serving.tuning.tune_malloc``) unless ``--no-malloc-tuning``.

Besides ``mux_ts_segment`` ("current", which copies the segment into
``bytes``), it times what the origin does: ``mux_ts_packets`` ("packets", the
flat array a first request sends), ``plan_and_mux_ts_segment`` ("first", a
first request that also keeps the segment's plan) and ``apply_ts_plan`` with
that plan ("apply", a repeated request), and prints the plan's size.

``--baseline DIR`` compares with another copy of the muxer: DIR must hold a
package ``old_ts`` whose ``old_ts.ts`` exposes ``mux_ts_segment`` and
``TsTrackInput`` (e.g. a copy of ``openvod/media/ts``, ``avc.py`` and
``adts.py`` from an older commit with their imports rewritten); the ratio
baseline / current is printed.

    .venv/bin/python bench/ts_mux.py [--repeat 2000] [--baseline /tmp/oldmux]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openvod.encoding.tools import ffmpeg  # noqa: E402
from openvod.media.track import Track  # noqa: E402
from openvod.media.ts import (  # noqa: E402
    TsTrackInput,
    apply_ts_plan,
    mux_ts_packets,
    mux_ts_segment,
    plan_and_mux_ts_segment,
    plan_ts_segment,
)
from openvod.serving.tuning import tune_malloc  # noqa: E402
from openvod.storage.movie_files import read_movie_file  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "ts_mux"
SEGMENT = 1  # the second 2-s GOP: a typical mid-stream segment

Case = tuple[str, list[tuple[Track, int, int, bytes]]]


def _encode(path: Path, kbps: int) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(ffmpeg()), "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=6",
         "-f", "lavfi", "-i", "anoisesrc=sample_rate=48000:duration=6:amplitude=0.3",
         "-vf", "noise=alls=12:allf=t", "-pix_fmt", "yuv420p",
         # capped VBR at the nominal bitrate, 2-s closed GOPs as the encoder's ladder makes them
         "-c:v", "libx264", "-preset", "veryfast", "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k",
         "-bufsize", f"{2 * kbps}k", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
         "-c:a", "aac", "-b:a", "128k", "-ac", "2", str(path)],
        check=True,
    )  # fmt: skip
    return path


def _samples(blob: bytes, track: Track, first: int, end: int) -> tuple[Track, int, int, bytes]:
    offsets = track.samples.offset[first:end].tolist()
    sizes = track.samples.size[first:end].tolist()
    data = b"".join(blob[o : o + s] for o, s in zip(offsets, sizes, strict=True))
    return track, first, end, data


def _cases(path: Path, label: str, *, with_audio: bool) -> list[Case]:
    movie = read_movie_file(path)
    video, audio = movie.track("video"), movie.track("audio")
    assert video is not None and audio is not None
    blob = path.read_bytes()
    first, end = 50 * SEGMENT, 50 * (SEGMENT + 1)
    start_s = int(video.samples.dts[first]) / video.timescale
    end_s = int(video.samples.dts[end]) / video.timescale
    a_times = audio.samples.dts / audio.timescale
    a_first, a_end = int((a_times < start_s).sum()), int((a_times < end_s).sum())
    v_part, a_part = _samples(blob, video, first, end), _samples(blob, audio, a_first, a_end)
    cases: list[Case] = [(f"video {label}", [v_part])]
    if with_audio:
        cases += [("audio AAC", [a_part]), (f"video {label}+audio", [v_part, a_part])]
    return cases


def _timer(mux: Callable[..., Any], make_input: Any, parts: Sequence[Any]) -> Callable[[], float]:
    inputs = [make_input(*part) for part in parts]
    return _timed(lambda: mux(inputs, segment_index=SEGMENT))


def _timed(run_once: Callable[[], Any]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter_ns()
        run_once()
        return (time.perf_counter_ns() - start) / 1000

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--baseline", type=Path, help="directory holding an old_ts package")
    parser.add_argument("--no-malloc-tuning", action="store_true")
    args = parser.parse_args()
    if not args.no_malloc_tuning:
        tune_malloc()
    variants: dict[str, tuple[Callable[..., Any], Any]] = {
        "current": (mux_ts_segment, TsTrackInput)
    }
    if args.baseline:
        sys.path.insert(0, str(args.baseline))
        old = importlib.import_module("old_ts.ts")
        variants["baseline"] = (old.mux_ts_segment, old.TsTrackInput)
    cases = _cases(_encode(OUT / "clip-3000k.mp4", 3000), "3 Mb/s", with_audio=True)
    cases += _cases(_encode(OUT / "clip-1400k.mp4", 1400), "1.4 Mb/s", with_audio=False)
    for name, parts in cases:
        timers = {v: _timer(mux, make, parts) for v, (mux, make) in variants.items()}
        inputs = [TsTrackInput(*p) for p in parts]
        size = len(mux_ts_segment(inputs, segment_index=SEGMENT))
        plan = plan_ts_segment(inputs, segment_index=SEGMENT)
        data = [item.data for item in inputs]
        assert apply_ts_plan(plan, data).tobytes() == mux_ts_segment(inputs, segment_index=SEGMENT)
        timers["packets"] = _timer(mux_ts_packets, TsTrackInput, parts)
        timers["first"] = _timer(plan_and_mux_ts_segment, TsTrackInput, parts)
        timers["apply"] = _timed(lambda plan=plan, data=data: apply_ts_plan(plan, data))
        times: dict[str, list[float]] = {v: [] for v in timers}
        for _ in range(args.repeat // 10):  # interleaved rounds of 10
            for variant, run in timers.items():
                times[variant] += [run() for _ in range(10)]
        line = f"{name:22s} {size / 1000:4.0f} kB TS, plan {plan.size_bytes / 1000:5.1f} kB"
        for variant, samples in times.items():
            p10 = statistics.quantiles(samples, n=10)[0]
            line += f"  {variant}: median {statistics.median(samples):7.1f} µs (p10 {p10:6.1f})"
        if "baseline" in times:
            ratio = statistics.median(times["baseline"]) / statistics.median(times["current"])
            line += f"  baseline/current {ratio:.2f}x"
        ratio = statistics.median(times["packets"]) / statistics.median(times["apply"])
        line += f"  packets/apply {ratio:.2f}x"
        print(line)


if __name__ == "__main__":
    main()
