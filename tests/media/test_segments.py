"""Segment boundaries: at the 2-s keyframes for video, within one frame of them for audio."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from openvod.media.segments import (
    align_audio,
    presentation_times,
    segment_boundaries,
    segment_durations,
    segment_start_times,
)
from openvod.media.track import SampleTable, Track

from ._mp4_media import Media, media, synthetic_audio, synthetic_video  # noqa: F401


def _with_sync(track: Track, sync: np.ndarray) -> Track:
    return dataclasses.replace(track, samples=dataclasses.replace(track.samples, sync=sync))


def test_real_files_cut_at_the_two_second_keyframes(media: Media) -> None:  # noqa: F811
    video, audio = media.movie.tracks
    cuts = segment_boundaries(video, 2 * video.timescale)
    np.testing.assert_array_equal(cuts, [0, 50, 100])
    assert np.all(video.samples.sync[cuts])
    np.testing.assert_array_equal(presentation_times(video)[cuts], [0, 25600, 51200])
    np.testing.assert_array_equal(segment_durations(video, cuts), [25600, 25600, 25600])
    cut_seconds = presentation_times(video)[cuts] / video.timescale
    audio_cuts = align_audio(audio, cut_seconds)
    assert audio_cuts[0] == 0 and len(audio_cuts) == 3
    audio_seconds = presentation_times(audio)[audio_cuts[1:]] / audio.timescale
    frame_seconds = 1024 / audio.timescale
    assert np.all(np.abs(audio_seconds - cut_seconds[1:]) <= frame_seconds / 2)
    assert segment_durations(audio, audio_cuts).sum() == audio.samples.duration.sum()


def test_irregular_keyframes_use_the_first_at_or_after_each_mark() -> None:
    track = synthetic_video(20)  # 500 samples of 512 ticks, 25 per second
    sync = np.zeros(500, dtype=np.bool_)
    sync[[0, 30, 60, 90, 130, 140, 260, 400]] = True
    cuts = segment_boundaries(_with_sync(track, sync), 2 * 12800)
    # marks every 50 samples; 30 is before the first mark; nothing between 150 and 250.
    np.testing.assert_array_equal(cuts, [0, 60, 130, 260, 400])


def test_a_keyframe_just_before_the_mark_counts() -> None:
    track = synthetic_video(10)
    samples = track.samples
    early = samples.dts.copy()
    early[50:] -= 5  # keyframe 5 ticks before the 2-s mark
    track = dataclasses.replace(track, samples=dataclasses.replace(samples, dts=early))
    np.testing.assert_array_equal(segment_boundaries(track, 25600)[:2], [0, 50])
    np.testing.assert_array_equal(segment_boundaries(track, 25600, tolerance_ticks=0)[:2], [0, 100])


def test_first_sample_always_starts_a_segment() -> None:
    track = synthetic_video(10)
    sync = np.zeros(len(track.samples), dtype=np.bool_)
    sync[[10, 60]] = True
    np.testing.assert_array_equal(segment_boundaries(_with_sync(track, sync), 25600), [0, 60])


def test_audio_alone_cuts_at_the_first_frame_at_or_after_each_mark() -> None:
    audio = synthetic_audio(10)
    cuts = segment_boundaries(audio, 2 * 48000, tolerance_ticks=0)
    np.testing.assert_array_equal(cuts, [0, 94, 188, 282, 375])  # ceil(k * 96000 / 1024)
    np.testing.assert_array_equal(segment_start_times(audio, cuts), cuts * 1024)
    # the default 1% tolerance lets a frame starting up to 960 ticks early begin a segment
    np.testing.assert_array_equal(segment_boundaries(audio, 2 * 48000), [0, 93, 187, 281, 375])


def test_audio_with_priming_keeps_it_in_the_first_segment() -> None:
    audio = synthetic_audio(6)
    primed = dataclasses.replace(
        audio.samples, cts_offset=np.full(len(audio.samples), -1024, dtype=np.int32)
    )
    audio = dataclasses.replace(audio, samples=primed)
    cuts = align_audio(audio, [0.0, 2.0, 4.005])
    np.testing.assert_array_equal(cuts, [0, 95, 189])


def test_empty_track() -> None:
    empty = SampleTable(
        np.zeros(0, np.int64),
        np.zeros(0, np.int32),
        np.zeros(0, np.uint32),
        np.zeros(0, np.uint32),
        np.zeros(0, np.uint64),
        np.zeros(0, np.bool_),
    )
    track = dataclasses.replace(synthetic_audio(1), samples=empty)
    assert len(segment_boundaries(track, 1000)) == 0
    assert len(align_audio(track, [0.0, 2.0])) == 0
    assert len(segment_durations(track, [])) == 0
    with pytest.raises(ValueError):
        segment_boundaries(track, 0)


def test_two_hours_segment_quickly() -> None:
    video, audio = synthetic_video(7200), synthetic_audio(7200)
    started = time.perf_counter()
    cuts = segment_boundaries(video, 25600)
    audio_cuts = align_audio(audio, presentation_times(video)[cuts] / 12800)
    durations = segment_durations(video, cuts)
    elapsed = time.perf_counter() - started
    assert len(cuts) == len(audio_cuts) == 3600
    assert np.all(durations == 25600)
    assert elapsed < 0.2
