"""Instructions per request from ``bench/origin_request_cost.py`` run under callgrind.

    valgrind --tool=callgrind --dump-before=os_getppid --callgrind-out-file=/tmp/cg/out.%p \\
        .venv/bin/python bench/origin_request_cost.py measure DIR --repeats 1 -n 300
    .venv/bin/python bench/callgrind_parts.py /tmp/cg/out.PID -n 300 --kinds mpd,fmp4-off,...

Callgrind writes one file per dump (``out.PID.1``, ``.2``, ...: what ran since the dump
before) and the rest at exit; the measured loops are the even-numbered parts.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path


def instructions(part: Path) -> int:
    """The ``summary:`` (or ``totals:``) instruction count of one callgrind dump."""
    for line in part.read_text(errors="replace").splitlines():
        match = re.match(r"(?:summary|totals): (\d+)", line)
        if match:
            return int(match.group(1))
    raise ValueError(f"no totals in {part}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefix", help="callgrind's output file without the .N suffix")
    parser.add_argument("-n", type=int, required=True, help="requests per measured loop")
    parser.add_argument("--kinds", required=True, help="as given to origin_request_cost.py")
    args = parser.parse_args()
    parts = sorted(Path(args.prefix).parent.glob(Path(args.prefix).name + ".*"),
                   key=lambda p: int(p.suffix[1:]))  # fmt: skip
    loops = [instructions(p) for p in parts[1::2]]  # .2, .4, ...: between the marks
    for kind, total in zip(args.kinds.split(","), loops, strict=False):
        print(f"{kind:9s} {total / args.n / 1000:8.1f} k instructions/request")


if __name__ == "__main__":
    main()
