"""Presentations: GOP-aligned timelines from real and synthetic MP4s, lookups, errors, speed."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Hashable
from typing import Any

import numpy as np
import pytest

from openvod.errors import MediaError
from openvod.media.presentation import (
    MAX_CACHE_ENTRIES,
    StreamSource,
    audio_segment_for,
    build_presentation,
    derive_sources,
    find_keyframe,
    find_rendition,
    find_segment,
    remember,
)
from openvod.media.segments import presentation_times
from openvod.media.track import Movie, Track

from ._mp4_media import synthetic_audio, synthetic_video
from ._presentations import (
    AbrSet,
    abr,  # noqa: F401
    abr_presentation,
    golden_presentation,
    small_audio,
    small_video,
)


def test_real_renditions_share_the_two_second_cuts(abr: AbrSet) -> None:  # noqa: F811
    p = abr_presentation(abr)
    assert len(p.video) == 3 and len(p.audio) == 1
    bitrates = [r.bitrate_bps for r in p.video]
    assert bitrates == sorted(bitrates, reverse=True)
    for video in p.video:
        np.testing.assert_array_equal(video.start_ticks, [0, 25600, 51200, 76800])
        assert np.all(video.track.samples.sync[video.boundaries])
    audio = p.audio[0]
    assert audio.segment_count == 3
    assert audio.start_ticks[-1] == audio.track.samples.dts[-1] + audio.track.samples.duration[-1]
    # audio cuts are within half a frame of the video cuts (in presentation time)
    cut_seconds = presentation_times(audio.track)[audio.boundaries[1:]] / 48000
    assert np.all(np.abs(cut_seconds - [2.0, 4.0]) <= 512 / 48000)
    assert p.duration_seconds == pytest.approx(6.0, abs=0.001)
    assert set(p.movies) == set(abr.movies)


def test_derive_sources_takes_video_from_every_file_and_audio_once(abr: AbrSet) -> None:  # noqa: F811
    sources = derive_sources(abr.movies)
    assert [s.kind for s in sources] == ["video", "audio", "video", "video"]
    audio = sources[1]
    assert audio.file_name == next(iter(abr.movies))
    assert audio.track_name == f"aac_und_2_{round(audio.bitrate_bps / 1000)}"
    assert len({s.bitrate_bps for s in sources}) == len(sources)


def test_derive_sources_makes_bitrates_unique() -> None:
    video = dataclasses.replace(small_video(320, 180, 1, 500_000), bitrate_bps=128_000)
    movies = {
        "a.mp4": Movie((video, small_audio()), 1000, 7000, 1),
        "b.mp4": Movie((video,), 1000, 7000, 1),
    }
    sources = derive_sources(movies)
    assert [s.bitrate_bps for s in sources] == [128_000, 128_001, 128_002]
    with pytest.raises(MediaError):
        derive_sources({"empty.mp4": Movie((), 1000, 0, 1)})


def test_segment_lookups() -> None:
    p = golden_presentation()
    video = p.video[0]
    assert video.segment_count == 4
    assert [find_segment(video, t) for t in (0, 25600, 51200, 76800)] == [0, 1, 2, 3]
    assert find_segment(video, 89600) is None  # the end is not a start
    assert find_segment(video, 1) is None
    assert find_segment(video, -5) is None
    assert video.segment_samples(3) == (150, 175)
    with pytest.raises(IndexError):
        video.segment_samples(4)
    assert find_keyframe(video, 25600) == 50
    assert find_keyframe(video, 512) is None
    assert find_rendition(p, 500_000, "video") is p.video[1]
    assert find_rendition(p, 128_000, "aac_eng_2_128") is p.audio[0]
    assert find_rendition(p, 128_000, "audio") is p.audio[0]
    assert find_rendition(p, 128_000, "video") is None
    assert find_rendition(p, 1, "aac_eng_2_128") is None
    assert audio_segment_for(p, video, 2) == (p.audio[0], 2)


def test_segments_cover_every_sample_once() -> None:
    p = golden_presentation()
    for rendition in p.renditions:
        ranges = [rendition.segment_samples(i) for i in range(rendition.segment_count)]
        assert ranges[0][0] == 0 and ranges[-1][1] == len(rendition.track.samples)
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        assert rendition.durations_ticks.sum() == rendition.start_ticks[-1]
        sizes = rendition.track.samples.size.astype(np.int64)
        assert rendition.segment_sizes_bytes.sum() == sizes.sum()
        assert rendition.peak_bitrate_bps >= rendition.average_bitrate_bps > 0


def test_audio_only_assets_cut_audio_every_two_seconds() -> None:
    movies = {"a.mp4": Movie((small_audio(),), 1000, 7000, 1)}
    p = build_presentation("a", derive_sources(movies), movies)
    assert not p.video
    audio = p.audio[0]
    cut_seconds = presentation_times(audio.track)[audio.boundaries[1:]] / 48000
    np.testing.assert_allclose(cut_seconds, [2.0, 4.0, 6.0], atol=512 / 48000)


def _movies(*videos: Track) -> dict[str, Movie]:
    return {f"v{i}.mp4": Movie((v,), 1000, 7000, 1) for i, v in enumerate(videos)}


def test_misaligned_renditions_are_refused() -> None:
    good = small_video(320, 180, 1, 500_000)
    sync = good.samples.sync.copy()
    sync[50], sync[60] = False, True  # second GOP starts 0.4 s late
    bad = dataclasses.replace(good, samples=dataclasses.replace(good.samples, sync=sync))
    sources = [StreamSource("v0.mp4", "video", 1, 2), StreamSource("v1.mp4", "video", 1, 1)]
    with pytest.raises(MediaError, match="not GOP-aligned.*segment 1 starts at 2.000 s"):
        build_presentation("x", sources, _movies(good, bad))


def test_renditions_in_other_timescales_align_within_a_millisecond() -> None:
    a = small_video(320, 180, 1, 500_000)
    samples = dataclasses.replace(
        a.samples, dts=a.samples.dts * 2, duration=a.samples.duration * 2,
        cts_offset=a.samples.cts_offset * 2,
    )  # fmt: skip
    b = dataclasses.replace(a, timescale=25600, samples=samples)
    sources = [StreamSource("v0.mp4", "video", 1, 2), StreamSource("v1.mp4", "video", 1, 1)]
    p = build_presentation("x", sources, _movies(a, b))
    assert p.video[1].timescale == 25600 and p.video[1].segment_count == 4


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (StreamSource("nope.mp4", "video", 1, 1), "not found"),
        (StreamSource("v0.mp4", "video", 9, 1), "no track 9"),
        (StreamSource("v0.mp4", "audio", 1, 1, "aac"), "is video, not audio"),
    ],
)
def test_bad_sources_are_media_errors(source: StreamSource, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        build_presentation("x", [source], _movies(small_video(320, 180, 1, 1)))


def test_sources_without_a_bitrate_take_their_tracks_own(abr: AbrSet) -> None:  # noqa: F811
    # AMS wrote .ism files without systemBitrate for assets uploaded as-is
    named = derive_sources(abr.movies)
    bare = [dataclasses.replace(s, bitrate_bps=0, track_name="") for s in named]
    p = build_presentation("x", bare, abr.movies)
    for rendition in p.renditions:
        track = rendition.track
        assert rendition.bitrate_bps in (track.bitrate_bps, track.bitrate_bps + 1)
        assert abs(rendition.average_bitrate_bps - track.bitrate_bps) < 0.05 * track.bitrate_bps
    assert len({r.bitrate_bps for r in p.video}) == 3
    kbps = round(p.audio[0].bitrate_bps / 1000)
    assert p.audio[0].track_name == f"aac_und_2_{kbps}"
    # one with, one without: the one without may not take the other's bitrate
    track_rate = abr.movies[named[0].file_name].track("video").bitrate_bps  # type: ignore[union-attr]
    mixed = [dataclasses.replace(named[0], bitrate_bps=track_rate),
             dataclasses.replace(named[0], bitrate_bps=0)]  # fmt: skip
    assert [r.bitrate_bps for r in build_presentation("x", mixed, abr.movies).video] == [
        track_rate + 1, track_rate]


def test_duplicate_bitrates_and_reserved_names_are_refused() -> None:
    movies = {"a.mp4": Movie((small_video(320, 180, 1, 1), small_audio()), 1000, 7000, 1)}
    twice = [StreamSource("a.mp4", "video", 1, 5), StreamSource("a.mp4", "video", 1, 5)]
    with pytest.raises(MediaError, match="share bitrate"):
        build_presentation("x", twice, movies)
    with pytest.raises(MediaError, match="cannot be used in URLs"):
        build_presentation("x", [StreamSource("a.mp4", "audio", 2, 5, "Video")], movies)
    with pytest.raises(MediaError, match="lists no"):
        build_presentation("x", [], movies)


def test_audio_names_are_derived_or_sanitised() -> None:
    movies = {"a.mp4": Movie((small_audio(),), 1000, 7000, 1)}
    derived = build_presentation("x", [StreamSource("a.mp4", "audio", 2, 64000)], movies)
    assert derived.audio[0].track_name == "aac_eng_2_64"
    spaced = build_presentation("x", [StreamSource("a.mp4", "audio", 2, 1, "English AAC")], movies)
    assert spaced.audio[0].track_name == "English_AAC"


def test_two_hour_presentation_builds_fast() -> None:
    video, audio = synthetic_video(7200), synthetic_audio(7200)
    movies = {
        f"r{i}.mp4": Movie((video, audio) if i == 0 else (video,), 1000, 7_200_000, 1)
        for i in range(3)
    }
    sources = derive_sources(movies)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        p = build_presentation("long", sources, movies)
        timings.append((time.perf_counter() - start) * 1000)
    assert p.video[0].segment_count == 3600 and p.audio[0].segment_count == 3600
    best = min(timings)
    print(f"\n2-h presentation build (3 x 180k video + 337k audio samples): {best:.1f} ms")
    start = time.perf_counter()
    _ = [(r.peak_bitrate_bps, r.keyframe_peak_bitrate_bps) for r in p.renditions]
    print(f"2-h bitrate figures (first use): {(time.perf_counter() - start) * 1000:.1f} ms")


def test_builder_caches_are_bounded() -> None:
    cache: dict[Hashable, Any] = {}
    for key in range(MAX_CACHE_ENTRIES + 10):
        assert remember(cache, key, str(key)) == str(key)
    assert len(cache) == MAX_CACHE_ENTRIES and MAX_CACHE_ENTRIES + 9 in cache and 0 not in cache
