"""Read a progressive MP4's 'moov' into a :class:`~openvod.media.track.Movie`.

The reader never reads: :func:`locate_moov` says which bytes it needs and the
caller fetches them (nginx-vod-module style)::

    offset, data = 0, read(0, 64 * 1024)
    while isinstance(where := locate_moov(data, file_size, head_offset=offset), NeedBytes):
        offset, data = where.offset, read(where.offset, where.size)
    movie = parse_movie(read(where.offset, where.size), file_size)

Only the boxes the origin needs are decoded; per-sample arrays are expanded
from the run-length tables with numpy (see :mod:`.sample_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

import numpy as np

from openvod.errors import MediaError
from openvod.media.mp4.boxes import (
    Box,
    BoxHeader,
    Buffer,
    FileTypeBox,
    iter_boxes,
    parse_box,
    read_box_header,
)
from openvod.media.mp4.codecs import describe_sample_entry
from openvod.media.mp4.movie_boxes import (
    EditListBox,
    HandlerBox,
    MediaHeaderBox,
    MovieHeaderBox,
    SampleDescriptionBox,
    TrackHeaderBox,
)
from openvod.media.mp4.sample_table import SampleTableBoxes, build_sample_table, track_bitrates
from openvod.media.track import Movie, Track, TrackKind

HANDLER_KINDS: dict[str, TrackKind] = {
    "vide": "video",
    "soun": "audio",
    "text": "text",
    "subt": "text",
    "sbtl": "text",
}
DEFAULT_READ_AHEAD = 64 * 1024

BoxT = TypeVar("BoxT", bound=Box)


@dataclass(frozen=True)
class MoovLocation:
    """Where the 'moov' box is: read ``size`` bytes at ``offset`` and pass them to parse_movie."""

    offset: int
    size: int


@dataclass(frozen=True)
class NeedBytes:
    """The reader needs ``size`` bytes at ``offset`` (a top-level box boundary) to go on."""

    offset: int
    size: int


def locate_moov(
    head: Buffer, file_size: int, *, head_offset: int = 0, read_ahead: int = DEFAULT_READ_AHEAD
) -> MoovLocation | NeedBytes:
    """Find the top-level 'moov' box by walking box headers.

    ``head`` holds file bytes starting at ``head_offset``, which must be a
    top-level box boundary (0 for the first call). Returns the moov's location,
    or the bytes to read next, e.g. the header after a leading 'mdat' when the
    moov is at the end. Raises MediaError when the file has no moov.
    """
    offset, end = head_offset, head_offset + len(head)
    while offset < file_size:
        if file_size - offset < 8:
            raise MediaError(f"truncated box header at offset {offset}")
        header = read_box_header(head, offset - head_offset, min(end, file_size) - head_offset)
        if header is None:  # the header is past (or straddles) what we were given
            if end >= file_size:
                raise MediaError(f"truncated box header at offset {offset}")
            return NeedBytes(offset, min(file_size - offset, max(16, read_ahead)))
        size = header.size_bytes
        if _is_size_zero(head, header):  # size 0: the box runs to the end of the file
            size = file_size - offset
        if offset + size > file_size:
            raise MediaError(f"box '{header.name}' at {offset} runs past the end of the file")
        if header.fourcc == b"moov":
            return MoovLocation(offset, size)
        offset += size
    raise MediaError("no 'moov' box: not a progressive MP4 (or a fragmented one)")


def _is_size_zero(head: Buffer, header: BoxHeader) -> bool:
    return bytes(head[header.offset : header.offset + 4]) == b"\0\0\0\0"


def read_brands(head: Buffer) -> tuple[str, ...]:
    """The major and compatible brands of the leading 'ftyp' box, or () if there is none."""
    header = read_box_header(head, 0, len(head))
    if header is None or header.fourcc != b"ftyp" or header.end > len(head):
        return ()
    ftyp = parse_box(head, header)
    assert isinstance(ftyp, FileTypeBox)
    return tuple(dict.fromkeys((ftyp.major_brand, *ftyp.compatible_brands)))


def parse_movie(moov: Buffer, file_size: int, *, brands: Sequence[str] = ()) -> Movie:
    """Parse a whole 'moov' box (header included) into a Movie.

    Tracks whose handler is not video, audio or text (hint, metadata,
    timecode) are left out. Raises MediaError on malformed or truncated input.
    """
    header = read_box_header(moov, 0, len(moov))
    if header is None or header.fourcc != b"moov":
        raise MediaError("not a 'moov' box")
    if header.end > len(moov):
        raise MediaError(f"truncated 'moov': {len(moov)} of {header.size_bytes} bytes")
    children = _child_map(moov, header)
    mvhd = _required(moov, children, b"mvhd", MovieHeaderBox, "moov")
    tracks = []
    for trak in children.get(b"trak", []):
        track = _parse_track(moov, trak, mvhd.timescale, file_size)
        if track is not None:
            tracks.append(track)
    return Movie(tuple(tracks), mvhd.timescale, mvhd.duration, file_size, tuple(brands))


def _child_map(data: Buffer, parent: BoxHeader) -> dict[bytes, list[BoxHeader]]:
    """The children of a container box, grouped by fourcc."""
    found: dict[bytes, list[BoxHeader]] = {}
    for child in iter_boxes(data, parent.payload_offset, parent.end):
        found.setdefault(child.fourcc, []).append(child)
    return found


def _parse_as(data: Buffer, header: BoxHeader, cls: type[BoxT]) -> BoxT:
    box = parse_box(data, header)
    if not isinstance(box, cls):  # pragma: no cover - the registry maps fourcc to class
        raise MediaError(f"unexpected box '{header.name}'")
    return box


def _required(
    data: Buffer,
    children: dict[bytes, list[BoxHeader]],
    fourcc: bytes,
    cls: type[BoxT],
    parent: str,
) -> BoxT:
    headers = children.get(fourcc)
    if not headers:
        raise MediaError(f"'{parent}' has no '{fourcc.decode('latin-1')}' box")
    return _parse_as(data, headers[0], cls)


def _optional(
    data: Buffer, children: dict[bytes, list[BoxHeader]], fourcc: bytes, cls: type[BoxT]
) -> BoxT | None:
    headers = children.get(fourcc)
    return _parse_as(data, headers[0], cls) if headers else None


def _container(
    data: Buffer, children: dict[bytes, list[BoxHeader]], fourcc: bytes, parent: str
) -> dict[bytes, list[BoxHeader]]:
    headers = children.get(fourcc)
    if not headers:
        raise MediaError(f"'{parent}' has no '{fourcc.decode('latin-1')}' box")
    return _child_map(data, headers[0])


def _parse_track(
    data: Buffer, trak: BoxHeader, movie_timescale: int, file_size: int
) -> Track | None:
    """One 'trak' into a Track, or None for tracks the origin does not serve."""
    trak_children = _child_map(data, trak)
    tkhd = _required(data, trak_children, b"tkhd", TrackHeaderBox, "trak")
    mdia = _container(data, trak_children, b"mdia", "trak")
    hdlr = _required(data, mdia, b"hdlr", HandlerBox, "mdia")
    kind = HANDLER_KINDS.get(hdlr.handler_type)
    if kind is None:
        return None
    mdhd = _required(data, mdia, b"mdhd", MediaHeaderBox, "mdia")
    if mdhd.timescale <= 0:
        raise MediaError(f"track {tkhd.track_id} has timescale 0")
    stbl = _container(data, _container(data, mdia, b"minf", "mdia"), b"stbl", "minf")
    stsd = _required(data, stbl, b"stsd", SampleDescriptionBox, "stbl")
    if not stsd.entries:
        raise MediaError(f"track {tkhd.track_id} has no sample description")
    sample_entry = stsd.entries[0].to_bytes()
    info = describe_sample_entry(sample_entry)
    shift = _edit_shift_ticks(data, trak_children, movie_timescale, mdhd.timescale)
    tables = SampleTableBoxes.from_headers(data, stbl, file_size)
    samples = build_sample_table(tables, shift, file_size)
    duration = mdhd.duration or int(samples.duration.sum(dtype=np.int64))
    bitrate, max_bitrate = track_bitrates(samples, mdhd.timescale, duration)
    return Track(
        track_id=tkhd.track_id,
        kind=kind,
        codec=info.codec,
        codec_string=info.codec_string,
        timescale=mdhd.timescale,
        duration_ticks=duration,
        samples=samples,
        sample_entry=sample_entry,
        codec_private=info.codec_private,
        language=mdhd.language,
        width=info.width,
        height=info.height,
        frame_rate=_frame_rate(tables, mdhd.timescale) if kind == "video" else Fraction(0),
        sample_rate_hz=info.sample_rate_hz,
        channels=info.channels,
        bitrate_bps=bitrate,
        max_bitrate_bps=max_bitrate,
    )


def _edit_shift_ticks(
    data: Buffer, trak: dict[bytes, list[BoxHeader]], movie_timescale: int, timescale: int
) -> int:
    """How far the initial edit moves presentation times, in track ticks.

    Leading empty edits delay the presentation; the first media edit's
    ``media_time`` is the media time shown at that point. Later edits are
    ignored (the origin serves the whole media).
    """
    if b"edts" not in trak:
        return 0
    elst = _optional(data, _container(data, trak, b"edts", "trak"), b"elst", EditListBox)
    if elst is None:
        return 0
    delay_movie_ticks = 0
    for entry in elst.entries:
        if entry.media_time == -1:
            delay_movie_ticks += entry.segment_duration
            continue
        delay = delay_movie_ticks * timescale // movie_timescale if movie_timescale else 0
        return delay - entry.media_time
    return 0


def _frame_rate(tables: SampleTableBoxes, timescale: int) -> Fraction:
    """timescale / the most common sample duration (from the stts runs, not per sample)."""
    stts = tables.stts
    if stts is None or not len(stts.sample_counts):
        return Fraction(0)
    deltas = stts.sample_deltas.astype(np.int64)
    counts = stts.sample_counts.astype(np.int64)
    unique, inverse = np.unique(deltas, return_inverse=True)
    totals = np.bincount(inverse, weights=counts)
    delta = int(unique[int(np.argmax(totals))])
    return Fraction(timescale, delta) if delta else Fraction(0)
