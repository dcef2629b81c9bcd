"""TS segment plans: replaying a plan with the same samples gives the muxer's bytes exactly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvod.errors import MediaError
from openvod.media.avc import START_CODE, EsCopies
from openvod.media.track import Track
from openvod.media.ts import (
    AUDIO_PID,
    DEFAULT_TIMESTAMP_OFFSET_90K,
    VIDEO_PID,
    TsTrackInput,
    apply_ts_plan,
    mux_ts_packets,
    plan_and_mux_ts_segment,
    plan_ts_segment,
)
from openvod.media.ts.packets import frame_packets, packetize
from openvod.media.ts.pes import PesStream, pes_headers
from openvod.media.ts.plan import plan_from_framed
from openvod.media.urls import FragmentRequest
from openvod.origin import segments
from openvod.origin.assets import AssetLoader
from openvod.origin.cache import SizedLru
from openvod.storage.local import LocalBlobStore
from tests.origin_support import ism_text, make_ladder

from ._mp4_media import get_media
from ._ts_reader import read_ts

OFFSET = DEFAULT_TIMESTAMP_OFFSET_90K

# --- packet level: random PES streams, framing and copies mixed ------------------------------


@dataclass(frozen=True)
class _Part:
    framing: bytes  # written by the writer itself (like a delimiter or an ADTS header)
    chunk: bytes  # copied from the stream's data
    start_codes: tuple[int, ...]  # offsets in the chunk where a start code goes


@dataclass(frozen=True)
class _FramedPayload:
    """A stand-in for the video and audio writers: framing, copies, start codes in place."""

    pes_parts: list[list[_Part]]

    @property
    def data(self) -> bytes:
        return b"".join(part.chunk for parts in self.pes_parts for part in parts)

    def write_framing(self, dest: np.ndarray, offsets: np.ndarray) -> EsCopies:
        dest_offsets, src_offsets, sizes, start_codes = [], [], [], []
        src = 0
        for at, parts in zip(offsets.tolist(), self.pes_parts, strict=True):
            for part in parts:
                dest[at : at + len(part.framing)] = np.frombuffer(part.framing, np.uint8)
                at += len(part.framing)
                dest_offsets.append(at)
                src_offsets.append(src)
                sizes.append(len(part.chunk))
                start_codes += [at + offset for offset in part.start_codes]
                at += len(part.chunk)
                src += len(part.chunk)
        arrays = (np.array(a, dtype=np.int64) for a in (dest_offsets, src_offsets, sizes))
        return EsCopies(*arrays, np.array(start_codes, dtype=np.int64))

    def write(self, dest: np.ndarray, offsets: np.ndarray) -> None:
        copies = self.write_framing(dest, offsets)
        data = np.frombuffer(self.data, np.uint8)
        for at, start, size in zip(*(a.tolist() for a in copies[:3]), strict=True):
            dest[at : at + size] = data[start : start + size]
        for at in copies.start_codes.tolist():
            dest[at : at + 4] = np.frombuffer(START_CODE, np.uint8)


@st.composite
def _parts(draw: st.DrawFn) -> list[_Part]:
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        framing = draw(st.binary(max_size=12))
        size = draw(st.one_of(st.integers(1, 40), st.integers(150, 900)))
        chunk = draw(st.binary(min_size=size, max_size=size))
        slots = draw(st.sets(st.integers(0, size // 4 - 1), max_size=4)) if size >= 4 else set()
        parts.append(_Part(framing, chunk, tuple(sorted(4 * slot for slot in slots))))
    return parts


@st.composite
def _streams(draw: st.DrawFn) -> list[PesStream]:
    streams = []
    for pid in draw(st.sampled_from([[VIDEO_PID], [AUDIO_PID], [VIDEO_PID, AUDIO_PID]])):
        pes_parts = draw(st.lists(_parts(), min_size=1, max_size=10))
        sizes = np.array([sum(len(p.framing) + len(p.chunk) for p in parts)
                          for parts in pes_parts], dtype=np.int64)  # fmt: skip
        times = st.lists(st.integers(OFFSET, OFFSET + 50_000), min_size=sizes.size,
                         max_size=sizes.size)  # fmt: skip
        dts = np.array(sorted(draw(times)))
        if pid == VIDEO_PID:
            headers = pes_headers(0xE0, sizes, np.stack([dts + 3600, dts], axis=1))
        else:
            headers = pes_headers(0xC0, sizes, dts)
        keys = np.array([pid == AUDIO_PID or draw(st.booleans()) for _ in sizes])
        streams.append(PesStream(pid, dts, headers, sizes, keys, _FramedPayload(pes_parts)))
    return streams


@settings(max_examples=300, deadline=None)
@given(_streams())
def test_a_plan_replays_packetize_exactly(streams: list[PesStream]) -> None:
    pcr_pid = streams[0].pid
    expected = packetize(streams, pcr_pid=pcr_pid, leading_packets=bytes(188)).tobytes()
    data = [s.payload.data for s in streams]  # type: ignore[attr-defined]
    framed = frame_packets(streams, pcr_pid=pcr_pid)
    plan = plan_from_framed(framed, bytes(188), [len(d) for d in data])
    assert apply_ts_plan(plan, data).tobytes() == expected
    assert plan.segment_size == len(expected)
    read_ts(expected[188:])  # well formed


# --- real segments -----------------------------------------------------------------------------


def _sample_bytes(blob: bytes, track: Track, first: int, end: int) -> bytes:
    samples = track.samples
    spans = zip(samples.offset[first:end].tolist(), samples.size[first:end].tolist(), strict=True)
    return b"".join(blob[offset : offset + size] for offset, size in spans)


def _segments(name: str, factory: pytest.TempPathFactory) -> list[dict[str, TsTrackInput]]:
    """Each GOP of a test file: video by keyframe, audio over the same seconds."""
    media = get_media(name, factory)
    video, audio = media.movie.track("video"), media.movie.track("audio")
    assert video is not None and audio is not None
    keys = [*np.flatnonzero(video.samples.sync).tolist(), len(video.samples)]
    seconds = [int(video.samples.dts[k]) / video.timescale for k in keys[1:-1]]
    cuts = np.searchsorted(audio.samples.dts / audio.timescale, seconds).tolist()
    audio_edges = [0, *cuts, len(audio.samples)]
    found = []
    for n, (v0, v1) in enumerate(zip(keys[:-1], keys[1:], strict=True)):
        a0, a1 = audio_edges[n], audio_edges[n + 1]
        spans = {"video": (video, v0, v1), "audio": (audio, a0, a1),
                 "keyframe": (video, v0, v0 + 1)}  # fmt: skip
        found.append({
            kind: TsTrackInput(track, first, end, _sample_bytes(media.data, track, first, end))
            for kind, (track, first, end) in spans.items()
        })
    return found


def _check(inputs: list[TsTrackInput], segment_index: int) -> int:
    """Plan + apply, and plan-and-mux, against a fresh mux; returns the plan's size."""
    expected = mux_ts_packets(inputs, segment_index=segment_index).tobytes()
    data = [item.data for item in inputs]
    plan = plan_ts_segment(inputs, segment_index=segment_index)
    assert apply_ts_plan(plan, data).tobytes() == expected
    assert apply_ts_plan(plan, [bytearray(d) for d in data]).tobytes() == expected  # any buffer
    again, packets = plan_and_mux_ts_segment(inputs, segment_index=segment_index)
    assert packets.tobytes() == expected
    assert apply_ts_plan(again, data).tobytes() == expected
    assert plan.segment_size == len(expected)
    return plan.size_bytes


@pytest.mark.parametrize("name", ["faststart", "bframes"])
def test_plans_of_real_segments_replay_the_muxer(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    gops = _segments(name, tmp_path_factory)
    assert len(gops) == 3  # first, middle, last
    for index, gop in enumerate(gops):
        for kinds in (("video",), ("audio",), ("video", "audio")):
            inputs = [gop[kind] for kind in kinds]
            size = _check(inputs, index)
            segment = len(mux_ts_packets(inputs, segment_index=index))
            assert size < max(segment // 4, 8192), (kinds, size, segment)  # small test files
        _check([gop["keyframe"]], index)  # an I-frame playlist entry


def test_plan_of_an_hevc_segment(tmp_path_factory: pytest.TempPathFactory) -> None:
    media = get_media("hevc", tmp_path_factory)
    video = media.movie.track("video")
    assert video is not None
    end = len(video.samples)
    _check([TsTrackInput(video, 0, end, _sample_bytes(media.data, video, 0, end))], 0)


def test_data_that_does_not_fit_the_plan_is_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    gop = _segments("faststart", tmp_path_factory)[1]
    inputs = [gop["video"], gop["audio"]]
    plan = plan_ts_segment(inputs, segment_index=1)
    with pytest.raises(MediaError):
        apply_ts_plan(plan, [gop["video"].data])
    with pytest.raises(MediaError):
        apply_ts_plan(plan, [gop["video"].data[:-1], gop["audio"].data])


# --- the origin's plan memo --------------------------------------------------------------------


def test_sized_lru_keeps_the_recent_values_within_its_budget() -> None:
    dropped: list[str] = []
    cache: SizedLru[str, str] = SizedLru(4 * 1000, on_evict=dropped.append)
    for key in "abcd":
        cache.put(key, key.upper(), 1000)
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("e", "E", 1000)
    assert cache.get("b") is None and cache.get("a") == "A" and len(cache) == 4
    assert cache.size_bytes == 4 * 1000 and dropped == ["B"]
    cache.put("huge", "H", 2000)  # more than a quarter of the budget: not kept
    assert cache.get("huge") is None
    cache.discard("a")
    assert cache.get("a") is None and len(cache) == 3 and dropped == ["B", "A"]
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0


def test_ts_segments_are_built_from_memoised_plans(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ladder = make_ladder(tmp_path_factory.mktemp("media"))
    store = LocalBlobStore(tmp_path / "blobs")
    store.create_container("plans")
    for mp4 in ladder:
        store.put_file("plans", mp4.name, mp4)
    store.put_blob("plans", ladder[0].stem + ".ism", ism_text(ladder).encode())
    loader = AssetLoader(store)
    asset = loader.load("plans", ladder[0].stem, loader.listing("plans", ladder[0].stem))
    video = asset.presentation.video[0]
    segments.TS_PLANS.clear()

    def get(fmt: str, index: int, keyframes: bool = False) -> bytes:
        start = int(video.start_ticks[index])
        request = FragmentRequest(video.bitrate_bps, "video", start, fmt, keyframes)  # type: ignore[arg-type]
        return bytes(segments.build_fragment_body(asset, request).data)

    requests = [("m3u8-aapl", n, False) for n in range(video.segment_count)]
    requests += [("m3u8-aapl-v3", 1, False), ("m3u8-aapl", 1, True)]
    first = [get(*request) for request in requests]
    assert len(segments.TS_PLANS) == len(requests)
    hits = segments.TS_PLANS.hits
    assert [get(*request) for request in requests] == first
    assert segments.TS_PLANS.hits == hits + len(requests)
    segments.TS_PLANS.clear()
    assert [get(*request) for request in requests] == first  # cold again: same bytes
    segments.TS_PLANS.clear()
