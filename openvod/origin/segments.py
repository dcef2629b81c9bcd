"""Segments built on request: fMP4 init segments and fragments, and MPEG-TS segments.

Each segment is the pure media layer's plan (``plan_fragment``) or muxer
(``mux_ts_packets``) plus positional reads of the source MP4. In an
interleaved MP4 a segment's samples lie in many chunks with the other track's
chunks between them; :func:`read_ranges` reads their whole span with one
``pread`` when the gaps are small, so a segment costs one or two reads.
An fMP4 fragment of a local file is not read at all: it is a
:class:`~openvod.origin.bodies.RangedBody`, the ``moof`` and ``mdat`` header
plus the sample ranges, which the server sends with ``sendfile``. A TS segment
is muxed once; its plan (:class:`~openvod.media.ts.TsSegmentPlan`, a few
percent of its size) is kept in a byte-bounded LRU per process, so the same
segment asked for again costs its reads and a few array operations
(:func:`~openvod.media.ts.apply_ts_plan`). Nothing here
touches HTTP: :func:`build_fragment_body` maps a parsed URL to a body and a
media type, or raises the domain error the HTTP layer turns into a status.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from openvod.errors import MediaError, NotFoundError
from openvod.media.mp4 import build_init_segment, plan_fragment
from openvod.media.mp4.writer import coalesce_reads
from openvod.media.presentation import (
    Presentation,
    Rendition,
    audio_segment_for,
    find_keyframe,
    find_rendition,
    find_segment,
)
from openvod.media.smooth import find_smooth_segment, plan_smooth_fragment
from openvod.media.ts import TsSegmentPlan, TsTrackInput, apply_ts_plan, plan_and_mux_ts_segment
from openvod.media.urls import INIT_TIME, TS_FORMATS, FragmentRequest, segment_extension
from openvod.origin.assets import LoadedAsset
from openvod.origin.bodies import BytesBody, RangedBody, ResponseBody
from openvod.origin.cache import SizedLru
from openvod.origin.sources import SourceFile, read_ranges

VIDEO_MP4 = b"video/mp4"
AUDIO_MP4 = b"audio/mp4"
VIDEO_MP2T = b"video/mp2t"

TS_PLAN_BUDGET_BYTES = 32 * 1024 * 1024
# A key tuple and its dictionary entry: a rough cost on top of a plan's own bytes.
PLAN_ENTRY_OVERHEAD_BYTES = 256
# The plans of the TS segments built last, across assets (keys carry the asset version).
TS_PLANS: SizedLru[Hashable, TsSegmentPlan] = SizedLru(TS_PLAN_BUDGET_BYTES)


@dataclass(frozen=True)
class Body:
    """A built segment: its body and media type."""

    body: ResponseBody
    content_type: bytes

    @property
    def data(self) -> bytes | memoryview:
        """All the bytes (reads the source ranges of a ranged body)."""
        body = self.body
        if isinstance(body, RangedBody):
            return body.materialise()
        assert isinstance(body, BytesBody)
        return body.data


def _mp4_type(rendition: Rendition) -> bytes:
    return VIDEO_MP4 if rendition.kind == "video" else AUDIO_MP4


def read_samples(asset: LoadedAsset, rendition: Rendition, first: int, end: int) -> bytes:
    """The bytes of samples ``[first, end)`` back to back."""
    samples = rendition.track.samples
    window = slice(first, end)
    source = asset.files[rendition.source.file_name]
    reads = coalesce_reads(samples.offset[window], samples.size[window])
    return b"".join(read_ranges(source, reads))


def init_segment(asset: LoadedAsset, rendition: Rendition) -> bytes:
    """The CMAF init segment (ftyp + moov) of one rendition, memoised per asset."""
    key = ("init", rendition.kind, rendition.bitrate_bps, rendition.track_name)
    cached = asset.memo.get(key)
    if cached is None:
        cached = build_init_segment([rendition.track])
        asset.memo[key] = cached
    return bytes(cached)


def ranged(prefix: bytes, source: SourceFile, reads: Sequence[tuple[int, int]]) -> ResponseBody:
    """``prefix`` plus ``reads`` of ``source``: left in the file (read or ``sendfile``-d when
    sent) when it is local, read now when it is remote."""
    body = RangedBody.of(prefix, source, reads)
    return body if source.is_local else BytesBody(body.materialise())


def fmp4_fragment(
    asset: LoadedAsset, rendition: Rendition, first: int, end: int, sequence_number: int
) -> ResponseBody:
    """moof + mdat of samples ``[first, end)`` of a rendition."""
    plan = plan_fragment(rendition.track, first, end, sequence_number)
    return ranged(plan.prefix, asset.files[rendition.source.file_name], plan.reads)


def ts_segment(
    asset: LoadedAsset,
    parts: list[tuple[Rendition, int, int]],
    segment_index: int,
) -> memoryview:
    """An MPEG-TS segment of the given (rendition, first sample, end sample) parts.

    Built from its memoised plan when there is one, else muxed (and its plan kept).
    """
    data = [read_samples(asset, r, first, end) for r, first, end in parts]
    key = _ts_plan_key(asset, parts, segment_index)
    plan = TS_PLANS.get(key)
    if plan is not None:
        try:
            return apply_ts_plan(plan, data).data
        except MediaError:  # the samples no longer fit the plan: build afresh
            TS_PLANS.discard(key)
    inputs = [
        TsTrackInput(r.track, first, end, samples)
        for (r, first, end), samples in zip(parts, data, strict=True)
    ]
    plan, packets = plan_and_mux_ts_segment(inputs, segment_index=segment_index)
    TS_PLANS.put(key, plan, plan.size_bytes + PLAN_ENTRY_OVERHEAD_BYTES)
    return packets.data


def _ts_plan_key(
    asset: LoadedAsset, parts: list[tuple[Rendition, int, int]], segment_index: int
) -> Hashable:
    """What a TS segment's plan depends on: the asset version (a replaced source file makes
    a new one), each part's rendition and samples, and the segment index."""
    renditions = tuple(
        (r.source.file_name, r.track.track_id, r.kind, r.bitrate_bps, r.track_name, first, end)
        for r, first, end in parts
    )
    return (asset.container, asset.version, renditions, segment_index)


def _rendition(presentation: Presentation, request: FragmentRequest) -> Rendition:
    rendition = find_rendition(presentation, request.bitrate, request.track)
    if rendition is None:
        raise NotFoundError("No such rendition.")
    if request.extension:  # one extension per segment: the one the manifests write
        init = request.time == INIT_TIME
        if request.extension != segment_extension(request.format, init=init, kind=rendition.kind):
            raise NotFoundError("No such fragment.")
    return rendition


def check_segment_extension(presentation: Presentation, request: FragmentRequest) -> None:
    """NotFoundError unless a fragment URL's extension (if any) is the one the manifests
    write for its rendition (``.ts``, ``.m4s``, ``.mp4``...): checked per URL, since both
    spellings of a segment share one response-cache entry."""
    if request.extension:
        _rendition(presentation, request)


def _segment_index(rendition: Rendition, request: FragmentRequest) -> int:
    """The segment a fragment URL's start time names."""
    assert isinstance(request.time, int)
    index = find_segment(rendition, request.time)
    if index is None:
        raise NotFoundError("No fragment starts at that time.")
    return index


def _smooth_body(asset: LoadedAsset, rendition: Rendition, time_hns: int) -> Body:
    """A Smooth fragment: times in 100 ns units, with the 'tfxd' box Smooth clients read."""
    presentation = asset.presentation
    index = find_smooth_segment(presentation, rendition, time_hns)
    if index is None:
        raise NotFoundError("No fragment starts at that time.")
    plan = plan_smooth_fragment(presentation, rendition, index)
    source = asset.files[rendition.source.file_name]
    return Body(ranged(plan.prefix, source, plan.reads), _mp4_type(rendition))


def _keyframe_body(asset: LoadedAsset, rendition: Rendition, request: FragmentRequest) -> Body:
    """One keyframe as a TS or fMP4 segment (the entries of I-frame playlists)."""
    assert isinstance(request.time, int)
    sample = find_keyframe(rendition, request.time)
    if sample is None:
        raise NotFoundError("No keyframe at that time.")
    ordinal = int(np.searchsorted(rendition.keyframe_samples, sample))
    if request.format in TS_FORMATS:
        body = ts_segment(asset, [(rendition, sample, sample + 1)], ordinal)
        return Body(BytesBody(body), VIDEO_MP2T)
    return Body(fmp4_fragment(asset, rendition, sample, sample + 1, ordinal + 1), VIDEO_MP4)


def _ts_body(asset: LoadedAsset, rendition: Rendition, index: int, muxed: bool) -> Body:
    """A TS segment; ``muxed`` (m3u8-aapl-v3) adds the default audio to video segments."""
    first, end = rendition.segment_samples(index)
    parts = [(rendition, first, end)]
    if muxed and rendition.kind == "video":
        found = audio_segment_for(asset.presentation, rendition, index)
        if found is not None:
            audio, audio_index = found
            parts.append((audio, *audio.segment_samples(audio_index)))
    return Body(BytesBody(ts_segment(asset, parts, index)), VIDEO_MP2T)


def reads_source(asset: LoadedAsset, request: FragmentRequest) -> bool:
    """Whether building this fragment waits on I/O that belongs in a thread: remote (or
    storage-encrypted) sources. Local files are read on the loop: fMP4 and Smooth
    fragments are plans built from the index, and a TS segment's ``pread``s come from
    the page cache; measured, the thread hop cost ~130 us of CPU and ~50-90 MB of RSS
    per serving process for no gain (docs/performance.md)."""
    return not asset.all_local


def build_fragment_body(asset: LoadedAsset, request: FragmentRequest) -> Body:
    """The bytes of the init segment, fragment or TS segment a fragment URL names."""
    rendition = _rendition(asset.presentation, request)
    if request.time == INIT_TIME:
        return Body(BytesBody(init_segment(asset, rendition)), _mp4_type(rendition))
    if request.keyframes:
        return _keyframe_body(asset, rendition, request)
    if request.format == "smooth":
        assert isinstance(request.time, int)
        return _smooth_body(asset, rendition, request.time)
    index = _segment_index(rendition, request)
    if request.format in TS_FORMATS:
        return _ts_body(asset, rendition, index, muxed=request.format == "m3u8-aapl-v3")
    first, end = rendition.segment_samples(index)
    return Body(fmp4_fragment(asset, rendition, first, end, index + 1), _mp4_type(rendition))
