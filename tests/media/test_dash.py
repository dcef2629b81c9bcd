"""DASH MPDs: read back with the mpegdash parser, timelines add up, URLs resolve, goldens."""

from __future__ import annotations

import dataclasses
import os

import pytest
from mpegdash.parser import MPEGDASHParser

from openvod.media.dash import build_mpd, timeline_runs
from openvod.media.presentation import (
    Presentation,
    StreamSource,
    build_presentation,
    find_rendition,
    find_segment,
)
from openvod.media.track import Movie
from openvod.media.urls import DASH_FORMATS, DashFormat, FragmentRequest, parse_streaming_path

from ._presentations import (
    AbrSet,
    abr,  # noqa: F401
    abr_presentation,
    check_golden,
    golden_presentation,
    long_presentation,
    single_kind_presentations,
    small_audio,
    small_video,
    time_ms,
)

UPDATE = os.environ.get("OPENVOD_UPDATE_GOLDEN") == "1"


def _expand(timeline: object) -> list[tuple[int, int]]:
    """(t, d) of every segment of a parsed SegmentTimeline."""
    segments, t = [], 0
    for s in timeline.Ss:  # type: ignore[attr-defined]
        t = s.t if s.t is not None else t
        for _ in range((s.r or 0) + 1):
            segments.append((t, s.d))
            t += s.d
    return segments


def _fill(template: str, bandwidth: int, time: int | str) -> str:
    return template.replace("$Bandwidth$", str(bandwidth)).replace("$Time$", str(time))


def _check_representation(
    p: Presentation, fmt: DashFormat, representation: object, template: object
) -> None:
    rep = representation
    media = parse_streaming_path(_fill(template.media, rep.bandwidth, 0))  # type: ignore[attr-defined]
    assert isinstance(media, FragmentRequest) and media.format == fmt
    rendition = find_rendition(p, rep.bandwidth, media.track)  # type: ignore[attr-defined]
    assert rendition is not None
    assert rep.codecs == rendition.track.codec_string  # type: ignore[attr-defined]
    assert template.timescale == rendition.timescale  # type: ignore[attr-defined]
    init = parse_streaming_path(_fill(template.initialization, rep.bandwidth, 0))  # type: ignore[attr-defined]
    assert isinstance(init, FragmentRequest) and init.time == "i"
    segments = _expand(template.segment_timelines[0])  # type: ignore[attr-defined]
    assert len(segments) == rendition.segment_count
    end = segments[-1][0] + segments[-1][1]
    assert end == int(rendition.track.samples.duration.sum())  # the whole decode timeline
    for t, _ in segments:
        fragment = parse_streaming_path(_fill(template.media, rep.bandwidth, t))  # type: ignore[attr-defined]
        assert isinstance(fragment, FragmentRequest) and fragment.time == t
        assert find_segment(rendition, t) is not None


@pytest.mark.parametrize("fmt", DASH_FORMATS)
def test_real_mpd_parses_and_timelines_add_up(abr: AbrSet, fmt: DashFormat) -> None:  # noqa: F811
    p = abr_presentation(abr)
    mpd = MPEGDASHParser.parse(build_mpd(p, fmt))
    assert mpd.type == "static"
    assert mpd.profiles.startswith("urn:mpeg:dash:profile:isoff-live:2011")
    assert ("cmaf" in mpd.profiles) == (fmt == "mpd-time-cmaf")
    assert mpd.media_presentation_duration == "PT6.000S"
    (period,) = mpd.periods
    video, audio = period.adaptation_sets
    assert (video.content_type, video.max_width, video.max_height) == ("video", 320, 180)
    assert video.segment_alignment is True
    assert [r.bandwidth for r in video.representations] == [r.bitrate_bps for r in p.video]
    assert [(r.width, r.height, r.sar) for r in video.representations] == [
        (320, 180, "1:1"), (256, 144, "1:1"), (192, 108, "1:1"),
    ]  # fmt: skip
    for rep in video.representations:
        _check_representation(p, fmt, rep, video.segment_templates[0])
    assert (audio.content_type, audio.lang) == ("audio", "und")
    (rep,) = audio.representations
    assert rep.audio_sampling_rate == "48000"
    assert rep.audio_channel_configurations[0].value == "2"
    _check_representation(p, fmt, rep, audio.segment_templates[0])


def test_renditions_with_other_timelines_get_their_own_templates() -> None:
    a = small_video(320, 180, 1, 500_000)
    samples = dataclasses.replace(
        a.samples, dts=a.samples.dts * 2, duration=a.samples.duration * 2,
        cts_offset=a.samples.cts_offset * 2,
    )  # fmt: skip
    b = dataclasses.replace(a, timescale=25600, samples=samples)
    movies = {
        "a.mp4": Movie((a, small_audio()), 1000, 7000, 1),
        "b.mp4": Movie((b,), 1000, 7000, 1),
    }
    sources = [
        StreamSource("a.mp4", "video", 1, 2000),
        StreamSource("b.mp4", "video", 1, 1000),
        StreamSource("a.mp4", "audio", 2, 128000, "aac_eng_2_128"),
        StreamSource("a.mp4", "audio", 2, 64000, "aac_eng_2_64"),
    ]
    p = build_presentation("x", sources, movies)
    mpd = MPEGDASHParser.parse(build_mpd(p, "mpd-time-csf"))
    video, audio = mpd.periods[0].adaptation_sets
    assert not video.segment_templates
    for rep in video.representations:
        _check_representation(p, "mpd-time-csf", rep, rep.segment_templates[0])
    assert [r.segment_templates[0].timescale for r in video.representations] == [12800, 25600]
    # two bitrates of one language share an AdaptationSet, each with its own media URL
    assert len(audio.representations) == 2 and not audio.segment_templates
    for rep in audio.representations:
        _check_representation(p, "mpd-time-csf", rep, rep.segment_templates[0])


def test_video_only_and_audio_only_mpds() -> None:
    video_only, audio_only = single_kind_presentations()
    (video,) = (
        MPEGDASHParser.parse(build_mpd(video_only, "mpd-time-csf")).periods[0].adaptation_sets
    )
    assert len(video.representations) == 2
    sets = MPEGDASHParser.parse(build_mpd(audio_only, "mpd-time-csf")).periods[0].adaptation_sets
    assert [(s.lang, s.roles[0].value) for s in sets] == [("eng", "main"), ("fra", "alternate")]
    for adaptation_set in sets:
        (rep,) = adaptation_set.representations
        _check_representation(audio_only, "mpd-time-csf", rep, adaptation_set.segment_templates[0])


def test_timeline_runs() -> None:
    import numpy as np

    assert timeline_runs(np.array([0, 2, 4, 6, 7, 8, 10], dtype=np.int64)) == [
        (0, 2, 3), (6, 1, 2), (8, 2, 1),
    ]  # fmt: skip
    assert timeline_runs(np.array([5], dtype=np.int64)) == []


@pytest.mark.parametrize("fmt", DASH_FORMATS)
def test_golden_mpds(fmt: DashFormat) -> None:
    check_golden(f"dash_{fmt}.mpd", build_mpd(golden_presentation(), fmt), update=UPDATE)


def test_two_hour_mpd_is_compact_and_fast() -> None:
    p = long_presentation()
    text = build_mpd(p, "mpd-time-cmaf")
    mpd = MPEGDASHParser.parse(text)
    video, audio = mpd.periods[0].adaptation_sets
    video_timeline = video.segment_templates[0].segment_timelines[0]
    assert len(video_timeline.Ss) <= 2  # 3600 segments of 2 s: one run (and the last)
    assert len(_expand(video_timeline)) == 3600
    # audio cut next to 2-s marks alternates 93/94 frames: runs are short, but exact
    assert len(_expand(audio.segment_templates[0].segment_timelines[0])) == 3600

    def uncached() -> object:
        p.cache.clear()
        for rendition in p.renditions:
            rendition.cache.clear()
        return build_mpd(p, "mpd-time-csf")

    _, cold = time_ms(uncached, repeat=20)
    _, warm = time_ms(lambda: build_mpd(p, "mpd-time-csf"))
    print(f"\n2-h DASH MPD: uncached p50 {cold:.3f} ms, cached p50 {warm:.4f} ms")
