"""The sidecar index round-trips every Movie exactly and loads a 2-hour asset in milliseconds."""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvod.errors import MediaError
from openvod.media.index import COLUMNS, dump_movie, load_movie
from openvod.media.track import Movie, SampleTable, Track

from ._mp4_media import Media, media, synthetic_audio, synthetic_video  # noqa: F401

_DTYPE_RANGES = {
    "dts": (np.int64, -(2**62), 2**62),
    "cts_offset": (np.int32, -(2**31), 2**31 - 1),
    "duration": (np.uint32, 0, 2**32 - 1),
    "size": (np.uint32, 0, 2**32 - 1),
    "offset": (np.uint64, 0, 2**64 - 1),
}


@st.composite
def sample_tables(draw: st.DrawFn) -> SampleTable:
    count = draw(st.integers(0, 40))
    columns = {}
    for name, (dtype, low, high) in _DTYPE_RANGES.items():
        if draw(st.booleans()):  # constant columns take the compact path
            value = draw(st.integers(low, high))
            columns[name] = np.full(count, value, dtype=dtype)
        else:
            values = draw(st.lists(st.integers(low, high), min_size=count, max_size=count))
            columns[name] = np.array(values, dtype=dtype)
    flags = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    columns["sync"] = np.array(flags, dtype=np.bool_)
    return SampleTable(**columns)


_text = st.text(max_size=12)
_ints = st.integers(0, 2**53)


@st.composite
def tracks(draw: st.DrawFn) -> Track:
    return Track(
        track_id=draw(st.integers(1, 2**32 - 1)),
        kind=draw(st.sampled_from(["video", "audio", "text"])),
        codec=draw(_text),
        codec_string=draw(_text),
        timescale=draw(st.integers(1, 2**32 - 1)),
        duration_ticks=draw(_ints),
        samples=draw(sample_tables()),
        sample_entry=draw(st.binary(max_size=64)),
        codec_private=draw(st.binary(max_size=16)),
        language=draw(_text),
        width=draw(st.integers(0, 8192)),
        height=draw(st.integers(0, 8192)),
        frame_rate=draw(st.fractions(min_value=0, max_value=240)),
        sample_rate_hz=draw(st.integers(0, 192000)),
        channels=draw(st.integers(0, 24)),
        bitrate_bps=draw(_ints),
        max_bitrate_bps=draw(_ints),
    )


movies = st.builds(
    Movie,
    tracks=st.lists(tracks(), max_size=3).map(tuple),
    movie_timescale=st.integers(1, 2**32 - 1),
    duration_ticks=_ints,
    file_size_bytes=_ints,
    brands=st.lists(st.text(min_size=4, max_size=4), max_size=4).map(tuple),
)


def assert_same_movie(got: Movie, want: Movie) -> None:
    assert len(got.tracks) == len(want.tracks)
    for got_track, want_track in zip(got.tracks, want.tracks, strict=True):
        for name, _ in COLUMNS:
            got_column = getattr(got_track.samples, name)
            want_column = getattr(want_track.samples, name)
            assert got_column.dtype == want_column.dtype, name
            np.testing.assert_array_equal(got_column, want_column)
        assert dataclasses.replace(got_track, samples=want_track.samples) == want_track
    assert dataclasses.replace(got, tracks=want.tracks) == want


@settings(max_examples=150, deadline=None)
@given(movies)
def test_round_trip(movie: Movie) -> None:
    assert_same_movie(load_movie(dump_movie(movie)), movie)


def test_round_trip_of_a_real_file(media: Media) -> None:  # noqa: F811
    data = dump_movie(media.movie)
    assert data == dump_movie(media.movie)  # deterministic
    loaded = load_movie(data)
    assert_same_movie(loaded, media.movie)
    assert isinstance(loaded.tracks[0].frame_rate, Fraction)


def test_two_hour_index_loads_in_milliseconds() -> None:
    movie = Movie((synthetic_video(7200), synthetic_audio(7200)), 1000, 7_200_000, 5 * 10**9)
    data = dump_movie(movie)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        loaded = load_movie(data)
        best = min(best, time.perf_counter() - started)
    assert best < 0.005, f"load took {best * 1e3:.2f} ms"
    assert np.shares_memory(loaded.tracks[0].samples.size, np.frombuffer(data, np.uint8))
    assert len(data) < 30 * (180_000 + 337_500)  # under 30 bytes a sample
    assert_same_movie(loaded, movie)


def test_rejects_what_is_not_an_index() -> None:
    good = dump_movie(Movie((synthetic_audio(10),), 1000, 10_000, 10**6))
    with pytest.raises(MediaError, match="magic"):
        load_movie(b"x" * 100)
    with pytest.raises(MediaError, match="version"):
        load_movie(good[:8] + b"\x63\0\0\0" + good[12:])
    with pytest.raises(MediaError):
        load_movie(good[:10])
    for cut in (20, 200, len(good) // 2, len(good) - 8):
        with pytest.raises(MediaError):
            load_movie(good[:cut])
    with pytest.raises(MediaError, match="corrupt"):
        load_movie(good.replace(b'"tracks"', b'"trucks"'))
