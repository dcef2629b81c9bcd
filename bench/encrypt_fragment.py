"""Micro-benchmark: the media layer's cost of one encrypted fragment (no HTTP, no I/O).

On the 720p rung and the AAC track of ``bench/out/origin/`` (``bench/origin.py``'s
120-s ladder, encoded on first use by ``bench/origin_encrypted.py``), CPU times per
fragment of about 2 s, median over every fragment of the track, repeated ``--repeat``
times:

- ``clear``: :func:`build_fragment` (what the origin does when it must build);
- ``cenc`` / ``cbcs``: :func:`encrypt_fragment`, subsample maps computed each time;
- ``cenc, maps kept`` / ``cbcs, maps kept``: the same with the subsample maps computed
  beforehand (what the origin does once it has made a fragment's maps);
- ``maps cenc`` / ``maps cbcs``: the subsample maps alone;
- ``aes-128``: HLS AES-128 (CBC, PKCS#7) of the clear fragment's bytes.

    .venv/bin/python bench/encrypt_fragment.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.origin_media import OUT  # noqa: E402
from openvod.media.crypto import (  # noqa: E402
    TrackProtection,
    cbcs_protection,
    cenc_protection,
    encrypt_fragment,
)
from openvod.media.crypto.cenc import subsample_maps  # noqa: E402
from openvod.media.crypto.hls_aes import encrypt_media_segment  # noqa: E402
from openvod.media.mp4 import (  # noqa: E402
    FragmentPlan,
    NeedBytes,
    build_fragment,
    locate_moov,
    parse_movie,
    plan_fragment,
    read_brands,
)
from openvod.media.mp4.protection_boxes import Subsample  # noqa: E402
from openvod.media.segments import segment_boundaries  # noqa: E402
from openvod.media.track import Movie, Track  # noqa: E402
from openvod.serving.tuning import tune_malloc  # noqa: E402

KEY = bytes(range(16))
KID = bytes(range(16, 32))


def load(path: Path) -> tuple[bytes, Movie]:
    """A file's bytes and parsed movie."""
    data = path.read_bytes()
    where = locate_moov(data[:4096], len(data))
    while isinstance(where, NeedBytes):
        head = data[where.offset : where.offset + where.size]
        where = locate_moov(head, len(data), head_offset=where.offset)
    moov = data[where.offset : where.offset + where.size]
    return data, parse_movie(moov, len(data), brands=read_brands(data[:4096]))


def median_ms(run: Callable[[], object], repeat: int) -> float:
    """The median CPU time of ``run`` in milliseconds (CPU, not wall: the machine is shared)."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000


@dataclass(frozen=True)
class Fragment:
    """One planned fragment of a track and its sample bytes."""

    first: int
    sizes: list[int]
    plan: FragmentPlan
    data: bytes


def fragments_of(data: bytes, track: Track) -> list[Fragment]:
    """The ~2-s fragments of a track."""
    cuts = [int(c) for c in segment_boundaries(track, 2 * track.timescale)]
    ends = [*cuts[1:], len(track.samples)]
    out = []
    for number, (first, end) in enumerate(zip(cuts, ends, strict=True), start=1):
        plan = plan_fragment(track, first, end, number)
        sample_bytes = b"".join(data[o : o + n] for o, n in plan.reads)
        out.append(Fragment(first, track.samples.size[first:end].tolist(), plan, sample_bytes))
    return out


Kept = dict[int, list[list[Subsample]] | None]


def cases_of(track: Track, fragments: list[Fragment]) -> dict[str, Callable[[Fragment], object]]:
    """What to time, by name, each a function of one fragment."""
    cases: dict[str, Callable[[Fragment], object]] = {
        "clear": lambda f: build_fragment(f.plan, f.data),
        "aes-128": lambda f: encrypt_media_segment(f.data, KEY, f.first),
    }
    for protection in (cenc_protection(KID, KEY, track.track_id),
                       cbcs_protection(KID, KEY, track.track_id)):  # fmt: skip
        kept = {f.first: subsample_maps(track, protection, f.data, f.sizes) for f in fragments}

        def full(f: Fragment, p: TrackProtection = protection) -> object:
            return encrypt_fragment(f.plan, f.data, track, p, f.first)

        def with_maps(f: Fragment, p: TrackProtection = protection, k: Kept = kept) -> object:
            return encrypt_fragment(f.plan, f.data, track, p, f.first, maps=k[f.first])

        def only_maps(f: Fragment, p: TrackProtection = protection) -> object:
            return subsample_maps(track, p, f.data, f.sizes)

        cases[protection.scheme] = full
        cases[f"{protection.scheme}, maps kept"] = with_maps
        cases[f"maps {protection.scheme}"] = only_maps
    return cases


def bench_track(data: bytes, track: Track, repeat: int) -> None:
    """Print the per-fragment medians of one track."""
    fragments = fragments_of(data, track)
    size = statistics.median(len(f.data) for f in fragments)
    print(f"{track.kind} {track.codec}: {len(fragments)} fragments, median {size / 1e3:.0f} kB")
    for name, case in cases_of(track, fragments).items():
        per = [median_ms(functools.partial(case, f), repeat) for f in fragments]
        print(f"  {name:16s} {statistics.median(per):7.3f} ms")


def main() -> None:
    """Time the 720p video and the AAC track."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tune_malloc()  # as the origin's processes do: big buffers stay mapped between fragments
    for name in ("tracks/bench_1280x720_3000.mp4", "tracks/bench_AACAudio_128.mp4"):
        data, movie = load(OUT / name)
        bench_track(data, movie.tracks[0], args.repeat)


if __name__ == "__main__":
    main()
