"""The sidecar index of a stored MP4: a :class:`Movie` as compact, fast-loading bytes.

Like AMS's ``.mpi`` files, it is written beside each asset file at encode
time so the origin never parses a 'moov' on the hot path. Layout (all
little-endian)::

    magic   8 bytes  b"OVODIDX\\n"
    version u32      FORMAT_VERSION
    length  u32      length of the JSON header, padded to 8 bytes with spaces
    header  JSON     scalar fields; for each track, where its arrays and blobs are
    data             raw arrays and blobs, each 8-byte aligned

Loading is ``np.frombuffer`` per array: no per-sample work and no copies. A
column whose samples all share one value (audio durations, sync flags) is
stored as that value and loaded as a zero-stride broadcast view. Arrays
loaded from an index are read-only. Never pickle.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media.track import Movie, SampleTable, Track

MAGIC = b"OVODIDX\n"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sII")
_ALIGN = 8
# Sample columns and their stored dtypes (the SampleTable's dtypes, little-endian).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("dts", "<i8"),
    ("cts_offset", "<i4"),
    ("duration", "<u4"),
    ("size", "<u4"),
    ("offset", "<u8"),
    ("sync", "|b1"),
)
_TRACK_SPECIAL = {"samples", "frame_rate", "sample_entry", "codec_private"}


class _Blobs:
    """Collects the data section, remembering where each piece starts."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, raw: bytes) -> int:
        """Append ``raw`` (padded to 8 bytes); returns its offset in the data section."""
        at = self.size
        pad = -len(raw) % _ALIGN
        self.parts.append(raw + bytes(pad))
        self.size += len(raw) + pad
        return at


def dump_movie(movie: Movie) -> bytes:
    """Serialise a Movie to the sidecar index format."""
    blobs = _Blobs()
    header = {
        "movie": {
            "movie_timescale": movie.movie_timescale,
            "duration_ticks": movie.duration_ticks,
            "file_size_bytes": movie.file_size_bytes,
            "brands": list(movie.brands),
        },
        "tracks": [_dump_track(track, blobs) for track in movie.tracks],
    }
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % _ALIGN)
    return _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text)) + text + b"".join(blobs.parts)


def _dump_track(track: Track, blobs: _Blobs) -> dict[str, Any]:
    fields: dict[str, Any] = {
        f.name: getattr(track, f.name)
        for f in dataclasses.fields(track)
        if f.name not in _TRACK_SPECIAL
    }
    fields["frame_rate"] = [track.frame_rate.numerator, track.frame_rate.denominator]
    for name in ("sample_entry", "codec_private"):
        raw = getattr(track, name)
        fields[name] = {"at": blobs.add(raw), "length": len(raw)}
    samples = track.samples
    columns: dict[str, Any] = {}
    for name, dtype in COLUMNS:
        column = getattr(samples, name)
        if len(column) and bool(np.all(column == column[0])):
            columns[name] = {"fill": column[0].item()}
        else:
            columns[name] = {"at": blobs.add(np.ascontiguousarray(column, dtype=dtype).tobytes())}
    fields["samples"] = {"count": len(samples), "columns": columns}
    return fields


def load_movie(data: bytes) -> Movie:
    """Load a Movie from sidecar index bytes (zero-copy: the arrays view ``data``).

    Raises MediaError for anything that is not a well-formed index of this
    format version.
    """
    if len(data) < _PREFIX.size:
        raise MediaError("index too short")
    magic, version, header_length = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise MediaError("not an openvod index (bad magic)")
    if version != FORMAT_VERSION:
        raise MediaError(f"unsupported index version {version} (expected {FORMAT_VERSION})")
    base = _PREFIX.size + header_length
    if base > len(data):
        raise MediaError("truncated index header")
    try:
        header = json.loads(data[_PREFIX.size : base])
        movie = header["movie"]
        tracks = tuple(_load_track(t, data, base) for t in header["tracks"])
        return Movie(
            tracks=tracks,
            movie_timescale=int(movie["movie_timescale"]),
            duration_ticks=int(movie["duration_ticks"]),
            file_size_bytes=int(movie["file_size_bytes"]),
            brands=tuple(movie["brands"]),
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        if isinstance(exc, MediaError):
            raise
        raise MediaError(f"corrupt index: {exc!r}") from exc


def _slice(data: bytes, base: int, at: int, length: int) -> int:
    """The absolute offset of ``length`` bytes at data offset ``at``, checked."""
    start = base + int(at)
    if at < 0 or length < 0 or start + length > len(data):
        raise MediaError("index data out of bounds (truncated index?)")
    return start


def _load_column(
    spec: dict[str, Any], dtype: str, count: int, data: bytes, base: int
) -> npt.NDArray[Any]:
    if "fill" in spec:
        return np.broadcast_to(np.array(spec["fill"], dtype=dtype), (count,))
    item = np.dtype(dtype).itemsize
    start = _slice(data, base, spec["at"], count * item)
    return np.frombuffer(data, dtype=dtype, count=count, offset=start)


def _load_track(fields: dict[str, Any], data: bytes, base: int) -> Track:
    known = {f.name for f in dataclasses.fields(Track)}
    values = {k: v for k, v in fields.items() if k in known and k not in _TRACK_SPECIAL}
    for name in ("sample_entry", "codec_private"):
        blob = fields[name]
        start = _slice(data, base, blob["at"], blob["length"])
        values[name] = bytes(data[start : start + blob["length"]])
    numerator, denominator = fields["frame_rate"]
    values["frame_rate"] = Fraction(numerator, denominator)
    spec = fields["samples"]
    count = int(spec["count"])
    columns = {
        name: _load_column(spec["columns"][name], dtype, count, data, base)
        for name, dtype in COLUMNS
    }
    values["samples"] = SampleTable(**columns)
    return Track(**values)
