"""Reading a stored MP4's sample index: the I/O loop around the pure parser, and sidecars.

The sidecar ``{file}.ovi`` (openvod index, like AMS's ``.mpi``) is written at
encode time so the origin never parses a moov on the request path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from openvod.media.index import dump_movie
from openvod.media.mp4 import MoovLocation, locate_moov, parse_movie, read_brands
from openvod.media.track import Movie

SIDECAR_SUFFIX = ".ovi"
_FIRST_READ = 64 * 1024

ReadRange = Callable[[int, int], bytes]


def read_movie(read: ReadRange, file_size: int) -> Movie:
    """Parse an MP4's moov with a few range reads (never the whole file)."""
    head = read(0, min(_FIRST_READ, file_size))
    brands = read_brands(head)
    offset = 0
    while True:
        where = locate_moov(head, file_size, head_offset=offset)
        if isinstance(where, MoovLocation):
            break
        offset = where.offset
        head = read(where.offset, where.size)
    moov = read(where.offset, where.size)
    return parse_movie(moov, file_size, brands=brands)


def read_movie_file(path: Path) -> Movie:
    """Parse a local MP4 file's sample index."""
    size = path.stat().st_size
    with path.open("rb") as fh:

        def read(offset: int, length: int) -> bytes:
            fh.seek(offset)
            return fh.read(length)

        return read_movie(read, size)


def write_sidecar(mp4: Path) -> Path:
    """Write ``{mp4}.ovi`` beside an MP4 and return its path."""
    target = mp4.with_name(mp4.name + SIDECAR_SUFFIX)
    target.write_bytes(dump_movie(read_movie_file(mp4)))
    return target
