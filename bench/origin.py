"""Benchmark: the origin's just-in-time packaging against nginx serving static segments.

One run measures, interleaved, with ``wrk -t2 -c32 -d10s`` on 127.0.0.1, a wrk Lua
script cycling through every segment of a 120-s GOP-aligned ladder (1280x720 at
3 Mb/s, 640x360 at 800 kb/s, AAC 128 kb/s). ``--layout`` picks how its MP4s hold the
tracks: ``tracks`` (default) as openvod's encoder writes them (AMS's AdaptiveStreaming
preset), one video-only MP4 per rung plus one AAC-only MP4, which the origin sends with
``sendfile`` straight from the file; ``interleaved``, the AAC track in every rung's MP4,
whose segments the origin reads and copies. Both origins and Shaka Packager get the same
MP4s:

- ``openvod origin --workers W`` (the dedicated origin, a subprocess) with its response
  cache off, serving DASH fMP4 (``mpd-time-cmaf``) and HLS TS (``m3u8-aapl``) segments;
- a second ``openvod origin --workers W`` with the cache on (default budget), same URLs;
- nginx (Debian's, on a generated config, ``worker_processes W``) serving Shaka Packager's
  static DASH fMP4 and HLS TS segments of the same MP4s (2-s segments).

The assets are published beforehand through ``openvod serve --no-worker`` (management
API, streaming locators, streaming endpoint started), which is stopped before the origins
start on the same data folder. ``--workers`` (default 1) sets both openvod origin's
serving processes and nginx's workers.

It prints requests/s, MB/s, latency p50/p99 and the server's CPU time per request
(summed over the server's whole process tree; medians over the rounds), the ratios
openvod / nginx (medians of per-round ratios), the peak RSS of the openvod origins'
serving processes under load (the largest one and the sum), the 2-hour manifest build
p50 (builder functions timed directly with their memos cleared; the origin's HTTP answer
too, for reference) and a py-spy profile of the origin's first serving process under
load (``--profile-seconds 0`` skips it). ``MALLOC_*`` variables in the environment reach
the openvod processes (glibc malloc tuning experiments).

The media are encoded once with ffmpeg and kept under ``bench/out/origin/``
(git-ignored), as are the profiles and ``results.json``. Every process the script
starts is stopped however it ends, and the whole run is bounded by ``--max-seconds``.

    .venv/bin/python bench/origin.py [--rounds 3] [--seconds 10] [--profile-seconds 8]
                                     [--workers 1] [--layout tracks|interleaved]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.origin_load import (  # noqa: E402
    WRK_CONNECTIONS,
    WRK_THREADS,
    Processes,
    Target,
    WrkResult,
    profile,
    run_wrk,
    serving_rss_mb,
    start_nginx,
    start_origin,
    start_serve,
    write_lua,
    wrk_command,
)
from bench.origin_media import (  # noqa: E402
    CLIP,
    KINDS,
    LAYOUTS,
    LONG,
    OUT,
    LadderFiles,
    manifest_timings,
    openvod_paths,
    prepare_data_dir,
    prepare_media,
    publish,
    static_paths,
    total_bytes,
)
from openvod.client.rest import OpenvodClient  # noqa: E402

GOALS = {"fmp4 off": 0.70, "ts off": 0.56, "fmp4 on": 0.80, "ts on": 0.80}
MANIFEST_GOAL_MS, RSS_GOAL_MB = 2.0, 150.0
OPENVOD_TARGETS = ("openvod-off", "openvod-on")
WARM_UP_SECONDS = 3


# --- measuring ------------------------------------------------------------------------------

Results = dict[tuple[str, str], list[WrkResult]]


def measure(targets: Sequence[Target], scripts: dict[tuple[str, str], Path], rounds: int,
            seconds: int) -> Results:  # fmt: skip
    """Every (target, kind) once per round; odd rounds run in reverse order against drift."""
    plan = [(t, kind) for kind in KINDS for t in targets]
    results: Results = {(t.name, kind): [] for t, kind in plan}
    for round_index in range(rounds):
        for target, kind in plan if round_index % 2 == 0 else plan[::-1]:
            result = run_wrk(target, scripts[target.name, kind], seconds)
            results[target.name, kind].append(result)
            print(f"  round {round_index + 1} {target.name:12} {kind:4}: "
                  f"{result.requests_per_s:8.1f} req/s {result.mb_per_s:7.1f} MB/s "
                  f"p50 {result.p50_ms:6.1f} ms p99 {result.p99_ms:6.1f} ms "
                  f"CPU {result.cpu_us_per_request:5.0f} us/req errors {result.errors}",
                  flush=True)  # fmt: skip
    return results


def median_result(runs: Sequence[WrkResult]) -> WrkResult:
    """Field-wise medians."""
    names = [f.name for f in fields(WrkResult)]
    values = {name: statistics.median(getattr(r, name) for r in runs) for name in names}
    values["errors"] = sum(r.errors for r in runs)
    return WrkResult(**values)


def ratios(results: Results, name: str, kind: str, attribute: str) -> list[float]:
    """Per round, ``name`` / nginx for one figure."""
    pairs = zip(results[name, kind], results["nginx", kind], strict=True)
    return [getattr(a, attribute) / getattr(b, attribute) for a, b in pairs]


def ratio(results: Results, name: str, kind: str, attribute: str) -> float:
    """Median over rounds of ``name`` / nginx for one figure."""
    return statistics.median(ratios(results, name, kind, attribute))


# --- the run --------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything one run measured."""

    rounds: int
    seconds: int
    workers: int
    layout: str  # how the clip's MP4s hold the tracks: "tracks" or "interleaved"
    serving: dict[str, tuple[int, ...]]  # target -> its serving processes' pids
    idle_rss_mb: dict[str, tuple[float, float]]  # openvod target -> (largest, sum)
    urls: dict[tuple[str, str], tuple[int, int]]  # (target, kind) -> (count, bytes)
    results: Results
    manifests: dict[str, Any]
    profiles: dict[str, dict[str, Any]]


def start_targets(
    procs: Processes, tmp: Path, static: Path, workers: int,
    media: Mapping[str, LadderFiles],
) -> tuple[list[Target], dict[str, str]]:  # fmt: skip
    """Publish through ``openvod serve``, stop it, then start both origins and nginx."""
    ctx, token = prepare_data_dir(tmp / "data")
    data_dir = ctx.settings.resolved_data_dir
    serve, serve_proc = start_serve(procs, "openvod-serve", data_dir)
    client = OpenvodClient(serve.base_url, token)
    client.ensure_account()
    client.call("POST", "/streamingEndpoints/default/start")
    locators = {ladder.stem: publish(client, ctx, ladder, media[ladder.stem])
                for ladder in (CLIP, LONG)}  # fmt: skip
    procs.stop(serve_proc)
    off = start_origin(procs, "openvod-off", data_dir, workers, 0)
    on = start_origin(procs, "openvod-on", data_dir, workers, None)
    return [off, on, start_nginx(procs, static, tmp, workers)], locators


def prepare_urls(
    targets: Sequence[Target], tmp: Path, static: Path, locator: str
) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[tuple[str, str], Path]]:
    """Per (target, kind): URL count and bytes (every URL fetched once) and the wrk script."""
    ours = openvod_paths(targets[0], locator, CLIP.stem)
    urls, scripts = {}, {}
    for target in targets:
        for kind in KINDS:
            paths = static_paths(static, kind) if target.name == "nginx" else ours[kind]
            urls[target.name, kind] = (len(paths), total_bytes(target, paths))
            scripts[target.name, kind] = write_lua(tmp / f"{target.name}-{kind}.lua", paths)
    return urls, scripts


def warm_up(targets: Sequence[Target], scripts: dict[tuple[str, str], Path]) -> None:
    """With several serving processes, one keep-alive pass over the URLs reaches only one of
    them: a short, unrecorded wrk run per (target, kind) warms every process's caches."""
    print(f"warming up: {WARM_UP_SECONDS} s of wrk per server and format", flush=True)
    for target in targets:
        for kind in KINDS:
            run_wrk(target, scripts[target.name, kind], WARM_UP_SECONDS)


def run_benchmark(args: argparse.Namespace, procs: Processes, tmp: Path) -> Report:
    """Start everything, check every URL, measure, time manifests, profile."""
    print(f"media: the clip's MP4s in the {args.layout!r} layout", flush=True)
    clip, long_files, static = prepare_media(args.layout)
    media = {CLIP.stem: clip, LONG.stem: long_files}
    targets, locators = start_targets(procs, tmp, static, args.workers, media)
    off, on = targets[0], targets[1]
    serving = {t.name: t.serving for t in targets}
    listed = (f"{name} {len(pids)} (pids {' '.join(map(str, pids))})"
              for name, pids in serving.items())  # fmt: skip
    print("serving processes: " + ", ".join(listed), flush=True)
    idle = {t.name: serving_rss_mb(t) for t in (off, on)}
    urls, scripts = prepare_urls(targets, tmp, static, locators[CLIP.stem])
    if args.workers > 1:
        warm_up(targets, scripts)
    wrk = shlex.join(wrk_command(off, Path("SCRIPT.lua"), args.seconds))
    print(f"measuring: {args.rounds} rounds of {wrk}", flush=True)
    results = measure(targets, scripts, args.rounds, args.seconds)
    manifests = manifest_timings(long_files, off, locators[LONG.stem])
    profiles = {}
    if args.profile_seconds > 0:
        for target, kind in ((off, "fmp4"), (off, "ts"), (on, "fmp4")):
            key = f"{kind} {target.name.split('-')[1]}"
            raw = OUT / f"profile-{key.replace(' ', '-')}.txt"
            script = scripts[target.name, kind]
            profiles[key] = profile(procs, target, script, args.profile_seconds, raw)
    return Report(args.rounds, args.seconds, args.workers, args.layout, serving, idle, urls,
                  results, manifests, profiles)  # fmt: skip


# --- the report -----------------------------------------------------------------------------

LABELS = {"openvod-off": "openvod origin, cache off", "openvod-on": "openvod origin, cache on",
          "nginx": "nginx static (Shaka)"}  # fmt: skip
FORMATS = {"fmp4": "DASH fMP4", "ts": "HLS TS"}
LAYOUT_LABELS = {"tracks": "video-only MP4 per rung + one AAC-only MP4",
                 "interleaved": "AAC interleaved in every rung's MP4"}  # fmt: skip


def verdict(value: float, goal: float, higher_is_better: bool = True) -> str:
    """'met', or how far from the goal."""
    if (value >= goal) if higher_is_better else (value <= goal):
        return "met"
    if higher_is_better:
        return f"missed: {value / goal:.0%} of goal"
    return f"missed: {value / goal:.2f}x goal"


def print_throughput(report: Report) -> None:
    """The wrk table and the ratios."""
    counts = ", ".join(f"{name} {len(pids)}" for name, pids in report.serving.items())
    print(f"\nwrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{report.seconds}s, medians of "
          f"{report.rounds} interleaved rounds; --workers {report.workers} "
          f"(serving processes: {counts}); --layout {report.layout} "
          f"({LAYOUT_LABELS[report.layout]})\n")  # fmt: skip
    print("| server | segments | URLs | mean size kB | req/s | MB/s | p50 ms | p99 ms | errors "
          "| server CPU us/req (kernel) | peak RSS MB, largest / sum |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for kind in KINDS:
        for name in LABELS:
            m = median_result(report.results[name, kind])
            count, size = report.urls[name, kind]
            rss = f"{m.peak_rss_mb:.0f} / {m.peak_rss_sum_mb:.0f}" if m.peak_rss_mb else "-"
            print(f"| {LABELS[name]} | {FORMATS[kind]} | {count} | {size / count / 1000:.0f} | "
                  f"{m.requests_per_s:.0f} | {m.mb_per_s:.0f} | {m.p50_ms:.1f} | {m.p99_ms:.1f} | "
                  f"{m.errors} | {m.cpu_us_per_request:.0f} ({m.kernel_share:.0%}) | "
                  f"{rss} |")  # fmt: skip
    print("\n| openvod / nginx | req/s ratio (rounds) | MB/s ratio | goal (req/s) | verdict "
          "| CPU per request, nginx / openvod |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for key, goal in GOALS.items():
        kind, cache = key.split()
        name = f"openvod-{cache}"
        by_requests = ratio(report.results, name, kind, "requests_per_s")
        by_bytes = ratio(report.results, name, kind, "mb_per_s")
        by_cpu = 1 / ratio(report.results, name, kind, "cpu_us_per_request")
        each = ratios(report.results, name, kind, "requests_per_s")
        spread = f"{by_requests:.2f} ({min(each):.2f}-{max(each):.2f})"
        print(f"| {FORMATS[kind]}, cache {cache} | {spread} | {by_bytes:.2f} | "
              f">= {goal:.2f} | {verdict(by_requests, goal)} | {by_cpu:.2f} |")
    print()
    for name in OPENVOD_TARGETS:
        runs = [r for kind in KINDS for r in report.results[name, kind]]
        peak, peak_sum = max(r.peak_rss_mb for r in runs), max(r.peak_rss_sum_mb for r in runs)
        memfd = max(r.peak_memfd_mb for r in runs)
        idle, idle_sum, _ = report.idle_rss_mb[name]
        count = len(report.serving[name])
        print(f"VmRSS, {LABELS[name]} ({count} serving process{'es' if count > 1 else ''}): "
              f"idle {idle:.0f} MB largest, {idle_sum:.0f} MB sum; under load peak {peak:.0f} MB "
              f"largest, {peak_sum:.0f} MB sum (goal <= {RSS_GOAL_MB:.0f} MB per process: "
              f"{verdict(peak, RSS_GOAL_MB, higher_is_better=False)}); response cache in "
              f"memfds outside RSS: up to {memfd:.0f} MB per process")


def print_machine() -> None:
    """What the numbers were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               "?")  # fmt: skip
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0]
    print(f"\nmachine: {os.cpu_count()} x {cpu}; load average {os.getloadavg()[0]:.1f} at the end; "
          f"Python {sys.version.split()[0]}; {nginx.split(': ')[-1]}; {wrk.strip()}")
    tuning = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    if tuning:
        print(f"glibc malloc tuning passed to openvod: {tuning}")


def print_manifests(m: dict[str, Any]) -> None:
    """The 2-hour manifest timings."""
    print(f"\n2-hour asset ({m['duration_s']:.0f} s, {m['segments']} segments per track; "
          f"index load + presentation {m['load_ms']:.0f} ms)\n")
    print("| manifest | builder CPU p50, memos cleared | goal | origin: first answer | "
          "origin: p50 after |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key, label in (("mpd", "DASH MPD (mpd-time-cmaf)"),
                       ("playlist", "HLS media playlist (m3u8-aapl, video)")):  # fmt: skip
        build, (first, warm) = m[f"{key}_ms"], m[f"{key}_http_ms"]
        print(f"| {label} | {build:.2f} ms | <= {MANIFEST_GOAL_MS:.0f} ms, "
              f"{verdict(build, MANIFEST_GOAL_MS, higher_is_better=False)} | {first:.1f} ms | "
              f"{warm:.2f} ms |")
    print("\nbuilder: build_mpd / build_media_playlist called in this process on the presentation "
          "the origin builds,\ntheir text memos cleared before each call. origin: GET on the "
          "cache-off origin (keep-alive);\nthe MPD's first answer also loads the 2-h index; "
          "later answers come from the per-asset\nmanifest memo, which origin_cache_bytes=0 "
          "does not turn off.")


def print_profiles(profiles: dict[str, dict[str, Any]]) -> None:
    """Top frames of each py-spy profile."""
    for key, found in profiles.items():
        if "skipped" in found:
            print(f"\nprofile {key}: {found['skipped']}")
            continue
        kind, cache = key.split()
        total = max(found["samples"], 1)
        print(f"\npy-spy, cache-{cache} origin under {FORMATS[kind]} load (pid {found['pid']}, "
              f"serving process 1 of {found['of']}): {found['samples']} busy samples of "
              f"{found['expected']} (100 Hz); bench/out/origin/{found['file']}")
        print("  self time:")
        for name, count in found["self"]:
            print(f"    {count / total:6.1%}  {name}")
        print("  inclusive, openvod frames:")
        for name, count in found["openvod"]:
            print(f"    {count / total:6.1%}  {name}")


def save_report(report: Report, path: Path) -> None:
    """The raw figures as JSON, for the docs."""
    doc = {
        "layout": report.layout,
        "workers": report.workers,
        "serving_processes": {k: len(v) for k, v in report.serving.items()},
        "idle_rss_mb": {k: {"largest": v[0], "sum": v[1]} for k, v in report.idle_rss_mb.items()},
        "urls": {" ".join(k): v for k, v in report.urls.items()},
        "runs": {" ".join(k): [vars(r) for r in v] for k, v in report.results.items()},
        "manifests": report.manifests,
        "profiles": report.profiles,
    }
    path.write_text(json.dumps(doc, indent=1))


def _install_deadline(seconds: int) -> None:
    """Turn SIGALRM after ``seconds`` and SIGTERM into exceptions, so cleanup always runs."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"the benchmark ran longer than --max-seconds {seconds}")

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGALRM, expire)
    signal.signal(signal.SIGTERM, terminate)
    signal.alarm(seconds)


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per server and format")
    parser.add_argument("--seconds", type=int, default=10, help="wrk -d")
    parser.add_argument("--profile-seconds", type=int, default=8, help="py-spy; 0: no profile")
    parser.add_argument("--workers", type=int, default=1,
                        help="serving processes on both sides: openvod origin --workers and "
                             "nginx worker_processes")  # fmt: skip
    parser.add_argument("--layout", choices=LAYOUTS, default="tracks",
                        help="the clip's MP4s: 'tracks', a video-only MP4 per rung and one "
                             "AAC-only MP4 (as openvod's encoder writes them), or "
                             "'interleaved', the AAC track in every rung's MP4")  # fmt: skip
    parser.add_argument("--max-seconds", type=int, default=1800, help="bound on the whole run")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} not found: apt-get install -y wrk nginx-light")
    _install_deadline(args.max_seconds)
    with tempfile.TemporaryDirectory(prefix="openvod-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with Processes(tmp) as procs:
            report = run_benchmark(args, procs, tmp)
    signal.alarm(0)
    save_report(report, OUT / "results.json")
    print_machine()
    print_throughput(report)
    print_manifests(report.manifests)
    print_profiles(report.profiles)


if __name__ == "__main__":
    main()
