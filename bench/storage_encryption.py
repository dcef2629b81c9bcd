"""Benchmark: what storage encryption at rest costs the origin when it reads.

The same MP4s (bench/origin.py's 120-s 1280x720 + 640x360 ladder, ``tracks`` layout:
a video-only MP4 per rung and one AAC-only MP4, with their ``.ovi`` indexes and a
``.ism``) are published twice through ``openvod serve --no-worker``: in a clear asset
and in a storage-encrypted one (``storageEncryptionFormat: MediaStorageClientEncryption``,
so the files are AES-256-CTR ciphertext on disk). Then one ``openvod origin`` process
with its response cache off (every request reads, and for the encrypted asset decrypts,
its bytes) serves both, and ``wrk -t2 -c32`` cycles through the same URLs of each:

- ``fmp4``: every DASH CMAF segment (``mpd-time-cmaf``; for the clear asset the origin
  sends the samples with ``sendfile``, for the encrypted one it reads, decrypts, copies);
- ``ts``: every HLS TS segment (``m3u8-aapl``; both are built in memory);
- ``download``: progressive download of the 640x360 MP4 as 1-MiB Range requests over
  the whole file.

Rounds alternate clear and encrypted. It prints requests/s, MB/s and the origin's CPU
time per request (medians), and encrypted ÷ clear for each. The media are the ones
bench/origin.py encodes and keeps in ``bench/out/origin/`` (made on first use).

    .venv/bin/python bench/storage_encryption.py [--rounds 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
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
    encode_ladder,
    interleaved_files,
    openvod_paths,
    prepare_data_dir,
    split_tracks,
)
from openvod.client.rest import OpenvodClient  # noqa: E402
from openvod.context import Context  # noqa: E402

ASSETS = {"clear": {}, "encrypted": {"storageEncryptionFormat": "MediaStorageClientEncryption"}}
KINDS = ("fmp4", "ts", "download")
RANGE_BYTES = 1024 * 1024


def publish(client: OpenvodClient, ctx: Context, name: str, props: dict[str, str],
            media: LadderFiles) -> str:
    """An asset named ``name`` with the ladder's files, under a download+streaming locator."""
    asset = client.call("PUT", f"/assets/{name}", {"properties": props})
    container = asset["properties"]["container"]
    for mp4 in media.files:  # ctx.store encrypts for the encrypted asset
        ctx.store.put_file(container, mp4.name, mp4, content_type="video/mp4")
        sidecar = mp4.with_name(mp4.name + SIDECAR_SUFFIX)
        ctx.store.put_file(container, sidecar.name, sidecar)
    ctx.store.put_blob(container, f"{CLIP.stem}.ism", CLIP.ism(media).encode())
    body = {"assetName": name, "streamingPolicyName": "Predefined_DownloadAndClearStreaming"}
    locator = client.call("PUT", f"/streamingLocators/{name}", {"properties": body})
    return str(locator["properties"]["streamingLocatorId"])


RANGE_LUA = """\
local ranges = {{ {ranges} }}
local i = 0

function request()
  i = i % #ranges + 1
  return wrk.format("GET", {url}, {{["Range"] = ranges[i]}})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests": %d, "bytes": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d}}\\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def range_lua(path: Path, url: str, size_bytes: int) -> Path:
    """A wrk script cycling 1-MiB Range requests over a whole file."""
    ranges = [f"bytes={start}-{min(start + RANGE_BYTES, size_bytes) - 1}"
              for start in range(0, size_bytes, RANGE_BYTES)]  # fmt: skip
    listed = ", ".join(json.dumps(r) for r in ranges)
    path.write_text(RANGE_LUA.format(ranges=listed, url=json.dumps(url)))
    return path


def scripts_for(origin: Target, locators: dict[str, str], media: LadderFiles,
                tmp: Path) -> dict[tuple[str, str], Path]:
    """Per (asset, kind), the wrk script; every URL fetched once first (and compared)."""
    scripts: dict[tuple[str, str], Path] = {}
    first: dict[str, list[bytes]] = {}
    download = media.videos[-1]
    for name, locator in locators.items():
        paths = openvod_paths(origin, locator, CLIP.stem)
        for kind in ("fmp4", "ts"):
            bodies = [fetch("127.0.0.1", origin.port, p) for p in paths[kind]]
            first.setdefault(kind, bodies)
            assert bodies == first[kind], f"{name} {kind} segments differ from the clear ones"
            scripts[name, kind] = write_lua(tmp / f"{name}-{kind}.lua", paths[kind])
        url = f"/{locator}/{download.name}"
        whole = fetch("127.0.0.1", origin.port, url)
        assert whole == download.read_bytes(), f"{name} download differs from the file"
        scripts[name, "download"] = range_lua(tmp / f"{name}-dl.lua", url, len(whole))
    return scripts


def measure(origin: Target, scripts: dict[tuple[str, str], Path], rounds: int,
            seconds: int) -> dict[tuple[str, str], list[WrkResult]]:
    """``rounds`` wrk runs per (asset, kind), clear and encrypted alternating."""
    results: dict[tuple[str, str], list[WrkResult]] = {}
    for round_index in range(rounds):
        for kind in KINDS:
            for name in ASSETS:
                result = run_wrk(origin, scripts[name, kind], seconds)
                results.setdefault((name, kind), []).append(result)
                print(f"  round {round_index + 1} {kind:8} {name:9} "
                      f"{result.requests_per_s:8.0f} req/s {result.mb_per_s:7.1f} MB/s "
                      f"{result.cpu_us_per_request:7.0f} us CPU/req", flush=True)
    return results


def report(results: dict[tuple[str, str], list[WrkResult]]) -> None:
    """Medians per (asset, kind) and encrypted ÷ clear."""
    print("\n| kind | clear req/s | encrypted req/s | enc ÷ clear (req/s) "
          "| clear CPU µs/req | encrypted CPU µs/req | enc ÷ clear (CPU/req) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for kind in KINDS:
        clear, enc = results["clear", kind], results["encrypted", kind]
        rps = [e.requests_per_s / c.requests_per_s for c, e in zip(clear, enc, strict=True)]
        cpu = [e.cpu_us_per_request / c.cpu_us_per_request
               for c, e in zip(clear, enc, strict=True)]  # fmt: skip
        print(f"| {kind} | {statistics.median(c.requests_per_s for c in clear):.0f} "
              f"| {statistics.median(e.requests_per_s for e in enc):.0f} "
              f"| **{statistics.median(rps):.2f}** "
              f"| {statistics.median(c.cpu_us_per_request for c in clear):.0f} "
              f"| {statistics.median(e.cpu_us_per_request for e in enc):.0f} "
              f"| {statistics.median(cpu):.2f} |")


def main() -> None:
    """Publish both assets, start the origin, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per asset and kind")
    parser.add_argument("--seconds", type=int, default=8, help="wrk -d")
    args = parser.parse_args()
    media = split_tracks(CLIP, interleaved_files(encode_ladder(CLIP, OUT)).videos,
                         OUT / "tracks")
    with tempfile.TemporaryDirectory(prefix="openvod-bench-enc-") as tmp_name:
        tmp = Path(tmp_name)
        with Processes(tmp) as procs:
            ctx, token = prepare_data_dir(tmp / "data")
            data_dir = ctx.settings.resolved_data_dir
            serve, serve_proc = start_serve(procs, "openvod-serve", data_dir)
            client = OpenvodClient(serve.base_url, token)
            client.ensure_account()
            client.call("POST", "/streamingEndpoints/default/start")
            locators = {name: publish(client, ctx, name, props, media)
                        for name, props in ASSETS.items()}  # fmt: skip
            procs.stop(serve_proc)
            origin = start_origin(procs, "openvod-origin", data_dir, 1, 0)
            scripts = scripts_for(origin, locators, media, tmp)
            wrk = shlex.join(wrk_command(origin, Path("SCRIPT.lua"), args.seconds))
            print(f"measuring: {args.rounds} rounds of {wrk} (origin cache off)", flush=True)
            results = measure(origin, scripts, args.rounds, args.seconds)
    report(results)


if __name__ == "__main__":
    main()
