"""Benchmark: dynamic encryption's cost, encrypted ÷ clear segment throughput of the origin.

The 120-s ladder of ``bench/origin.py`` (``--layout tracks``: one video-only MP4 per
rung plus one AAC-only MP4, as openvod's encoder writes them) is published under three
streaming locators of one asset: clear (``Predefined_ClearStreamingOnly``), CENC
(a custom policy with ``commonEncryptionCenc`` for DASH, W3C ClearKey) and AES-128
(``Predefined_ClearKey``). One ``openvod origin --workers W`` serves them; with
``--cache off`` (default) its response cache is off, so every request packages (and
encrypts) its segment; ``--cache on`` keeps the default cache.

With the same wrk settings as ``bench/origin.py`` (``wrk -t2 -c32 -d{s}s``, a Lua script
cycling through every segment), interleaved over ``--rounds``, it measures:

- CENC ÷ clear: DASH CMAF (``mpd-time-cmaf``) init + fragments of every rendition;
- AES-128 ÷ clear: HLS TS (``m3u8-aapl``) segments of every rendition.

Each URL is fetched once beforehand (an encrypted one must differ from the clear one).
Media come from ``bench/out/origin/`` (encoded on first use, ~3 min).

    .venv/bin/python bench/origin_encrypted.py [--rounds 1] [--seconds 10] [--workers 1]
                                               [--cache off|on]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.origin_load import (  # noqa: E402
    Processes,
    Target,
    WrkResult,
    fetch,
    run_wrk,
    start_origin,
    start_serve,
    write_lua,
    wrk_command,
)
from bench.origin_media import (  # noqa: E402
    CLIP,
    OUT,
    SIDECAR_SUFFIX,
    LadderFiles,
    dash_paths,
    encode_ladder,
    hls_paths,
    interleaved_files,
    prepare_data_dir,
    split_tracks,
)
from openvod.client.rest import OpenvodClient  # noqa: E402
from openvod.context import Context  # noqa: E402

GOALS = {"cenc": 0.85, "aes": 0.60}
CENC_POLICY = {"commonEncryptionCenc": {
    "enabledProtocols": {"download": False, "dash": True, "hls": False, "smoothStreaming": False},
    "clearKeyEncryptionConfiguration": {},
}}  # fmt: skip
# (label, locator role, manifest) of each measured URL set; pairs share a format.
SETS = {
    "dash-clear": ("clear", "manifest(format=mpd-time-cmaf)"),
    "dash-cenc": ("cenc", "manifest(format=mpd-time-cmaf)"),
    "hls-clear": ("clear", "manifest(format=m3u8-aapl)"),
    "hls-aes": ("aes", "manifest(format=m3u8-aapl)"),
}
PAIRS = {"cenc": ("dash-cenc", "dash-clear"), "aes": ("hls-aes", "hls-clear")}


def publish(client: OpenvodClient, ctx: Context, media: LadderFiles) -> dict[str, str]:
    """The clip as one asset under a clear, a CENC and an AES-128 locator: role -> id."""
    asset = client.call("PUT", f"/assets/{CLIP.stem}", {"properties": {}})
    container = asset["properties"]["container"]
    for mp4 in media.files:
        ctx.store.put_file(container, mp4.name, mp4, content_type="video/mp4")
        sidecar = mp4.with_name(mp4.name + SIDECAR_SUFFIX)
        ctx.store.put_file(container, sidecar.name, sidecar)
    ism = CLIP.ism(media).encode()
    ctx.store.put_blob(container, f"{CLIP.stem}.ism", ism, content_type="text/xml")
    client.call("PUT", "/streamingPolicies/benchcenc", {"properties": CENC_POLICY})
    policies = {"clear": "Predefined_ClearStreamingOnly", "cenc": "benchcenc",
                "aes": "Predefined_ClearKey"}  # fmt: skip
    ids = {}
    for role, policy in policies.items():
        body = {"assetName": CLIP.stem, "streamingPolicyName": policy}
        locator = client.call("PUT", f"/streamingLocators/{role}", {"properties": body})
        ids[role] = str(locator["properties"]["streamingLocatorId"])
    return ids


def url_sets(target: Target, locators: dict[str, str]) -> dict[str, list[str]]:
    """Every segment path of each set, read from the origin's manifests."""
    out = {}
    for name, (role, manifest) in SETS.items():
        path = f"/{locators[role]}/{CLIP.stem}.ism/{manifest}"
        if "mpd" in manifest:
            out[name] = dash_paths(path, fetch("127.0.0.1", target.port, path))
        else:
            out[name] = hls_paths(lambda p: fetch("127.0.0.1", target.port, p).decode(), path)
    return out


def check_urls(target: Target, sets: dict[str, list[str]]) -> dict[str, int]:
    """Fetch every URL once (raises on a non-200); encrypted bytes must differ from clear."""
    sizes = {}
    for name, paths in sets.items():
        sizes[name] = sum(len(fetch("127.0.0.1", target.port, p)) for p in paths)
    for encrypted, clear in PAIRS.values():
        first = (sets[encrypted][1], sets[clear][1])
        a, b = (fetch("127.0.0.1", target.port, p) for p in first)
        if a == b:
            raise RuntimeError(f"{encrypted} serves the clear bytes of {clear}")
    return sizes


def measure(target: Target, scripts: dict[str, Path], rounds: int, seconds: int
            ) -> dict[str, list[WrkResult]]:  # fmt: skip
    """Every set once per round; odd rounds in reverse order against drift."""
    results: dict[str, list[WrkResult]] = {name: [] for name in scripts}
    order = list(scripts)
    for index in range(rounds):
        for name in order if index % 2 == 0 else order[::-1]:
            result = run_wrk(target, scripts[name], seconds)
            results[name].append(result)
            print(f"  round {index + 1} {name:10}: {result.requests_per_s:8.1f} req/s "
                  f"{result.mb_per_s:7.1f} MB/s p50 {result.p50_ms:6.1f} ms "
                  f"p99 {result.p99_ms:6.1f} ms CPU {result.cpu_us_per_request:5.0f} us/req "
                  f"errors {result.errors}", flush=True)  # fmt: skip
    return results


def report(results: dict[str, list[WrkResult]], sizes: dict[str, int],
           counts: dict[str, int]) -> None:  # fmt: skip
    """The table and the ratios (medians over rounds of per-round ratios)."""
    print("\n| URL set | URLs | MB | req/s | MB/s | p50 ms | p99 ms | CPU us/req | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, runs in results.items():
        med = {f: statistics.median(getattr(r, f) for r in runs)
               for f in ("requests_per_s", "mb_per_s", "p50_ms", "p99_ms", "cpu_us_per_request")}
        print(f"| {name} | {counts[name]} | {sizes[name] / 1e6:.1f} | "
              f"{med['requests_per_s']:.0f} | {med['mb_per_s']:.0f} | {med['p50_ms']:.1f} | "
              f"{med['p99_ms']:.1f} | {med['cpu_us_per_request']:.0f} | "
              f"{sum(r.errors for r in runs)} |")  # fmt: skip
    print("\n| ratio (req/s) | value | goal | verdict |")
    print("| --- | ---: | ---: | --- |")
    for label, (encrypted, clear) in PAIRS.items():
        value = statistics.median(
            a.requests_per_s / b.requests_per_s
            for a, b in zip(results[encrypted], results[clear], strict=True)
        )
        met = "met" if value >= GOALS[label] else f"missed: {value / GOALS[label]:.0%} of goal"
        print(f"| {label} ÷ clear | {value:.2f} | ≥ {GOALS[label]:.2f} | {met} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cache", choices=("off", "on"), default="off")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    media = split_tracks(CLIP, interleaved_files(encode_ladder(CLIP, OUT)).videos,
                         OUT / "tracks")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="openvod-bench-enc-") as tmp_name:
        tmp = Path(tmp_name)
        procs = Processes(tmp)
        try:
            ctx, token = prepare_data_dir(tmp / "data")
            data_dir = ctx.settings.resolved_data_dir
            serve, serve_proc = start_serve(procs, "openvod-serve", data_dir)
            client = OpenvodClient(serve.base_url, token)
            client.ensure_account()
            client.call("POST", "/streamingEndpoints/default/start")
            locators = publish(client, ctx, media)
            procs.stop(serve_proc)
            cache = 0 if args.cache == "off" else None
            origin = start_origin(procs, f"openvod-{args.cache}", data_dir, args.workers, cache)
            sets = url_sets(origin, locators)
            sizes = check_urls(origin, sets)
            scripts = {n: write_lua(tmp / f"{n}.lua", p) for n, p in sets.items()}
            wrk = shlex.join(wrk_command(origin, Path("SCRIPT.lua"), args.seconds))
            print(f"measuring: {args.rounds} round(s) of {wrk}, cache {args.cache}, "
                  f"--workers {args.workers}", flush=True)  # fmt: skip
            results = measure(origin, scripts, args.rounds, args.seconds)
            report(results, sizes, {n: len(p) for n, p in sets.items()})
        finally:
            procs.stop_all()


if __name__ == "__main__":
    main()
