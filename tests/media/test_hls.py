"""HLS playlists: read back with the m3u8 parser, URIs resolve, golden files, TS bandwidth."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import m3u8
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvod.encoding import tools
from openvod.errors import InvalidRequestError
from openvod.media.hls import build_master_playlist, build_media_playlist, format_durations
from openvod.media.mp4 import build_init_segment, plan_fragment
from openvod.media.presentation import (
    Presentation,
    audio_segment_for,
    find_keyframe,
    find_rendition,
    find_segment,
)
from openvod.media.ts import TsTrackInput, mux_ts_segment
from openvod.media.urls import (
    HLS_FORMATS,
    FragmentRequest,
    HlsFormat,
    ManifestOptions,
    PlaylistRequest,
    parse_streaming_path,
)

from ._mp4_media import run
from ._presentations import (
    AbrSet,
    abr,  # noqa: F401
    abr_presentation,
    check_golden,
    golden_presentation,
    long_presentation,
    single_kind_presentations,
    time_ms,
)

UPDATE = os.environ.get("OPENVOD_UPDATE_GOLDEN") == "1"


def _resolve(playlist_uri: str, uri: str) -> str:
    """``uri`` relative to the playlist at ``playlist_uri`` (both below ``{name}.ism/``)."""
    folder, _, _ = playlist_uri.rpartition("/")
    return f"{folder}/{uri}" if folder else uri


def _playlist(p: Presentation, uri: str) -> tuple[str, PlaylistRequest]:
    request = parse_streaming_path(uri)
    assert isinstance(request, PlaylistRequest)
    rendition = find_rendition(p, request.bitrate, request.track)
    assert rendition is not None, uri
    text = build_media_playlist(
        p, rendition, request.format, keyframes=request.keyframes, options=request.options
    )
    return text, request


def _check_media_playlist(p: Presentation, uri: str, fmt: HlsFormat) -> None:
    text, request = _playlist(p, uri)
    rendition = find_rendition(p, request.bitrate, request.track)
    assert rendition is not None
    playlist = m3u8.loads(text)
    assert playlist.is_endlist and playlist.playlist_type == "vod"
    assert playlist.media_sequence == 0
    assert playlist.version == {"m3u8-aapl-v3": 3, "m3u8-aapl": 4, "m3u8-cmaf": 7}[fmt]
    durations = [segment.duration for segment in playlist.segments]
    assert playlist.target_duration == math.ceil(max(durations))
    count = len(rendition.keyframe_samples) if request.keyframes else rendition.segment_count
    assert len(durations) == count
    # the decode timeline's length (mdhd durations may add the last frame's reordering delay)
    total = int(rendition.track.samples.duration.sum()) / rendition.timescale
    assert abs(sum(durations) - total) < 0.001
    assert playlist.is_i_frames_only == request.keyframes
    if fmt == "m3u8-cmaf":
        init = parse_streaming_path(_resolve(uri, playlist.segment_map[0].uri))
        assert isinstance(init, FragmentRequest) and init.time == "i"
    else:
        assert not playlist.segment_map
    for segment in playlist.segments:
        fragment = parse_streaming_path(_resolve(uri, segment.uri))
        assert isinstance(fragment, FragmentRequest)
        assert fragment.bitrate == request.bitrate
        assert (fragment.track, fragment.format) == (request.track, fmt)
        assert fragment.options == request.options and fragment.keyframes == request.keyframes
        assert isinstance(fragment.time, int)
        if request.keyframes:
            assert find_keyframe(rendition, fragment.time) is not None
        else:
            assert find_segment(rendition, fragment.time) is not None


@pytest.mark.parametrize("fmt", HLS_FORMATS)
def test_real_master_and_media_playlists(abr: AbrSet, fmt: HlsFormat) -> None:  # noqa: F811
    p = abr_presentation(abr)
    master = m3u8.loads(build_master_playlist(p, fmt))
    assert master.is_variant
    video_variants = [v for v in master.playlists if v.stream_info.resolution]
    assert [v.stream_info.resolution for v in video_variants] == [
        (320, 180), (256, 144), (192, 108),
    ]  # fmt: skip
    audio_codec = p.audio[0].track.codec_string
    for variant, video in zip(video_variants, p.video, strict=True):
        info = variant.stream_info
        assert info.codecs == f"{video.track.codec_string},{audio_codec}"
        assert info.frame_rate == 25.0
        assert info.bandwidth >= video.peak_bitrate_bps + p.audio[0].peak_bitrate_bps
        assert info.average_bandwidth <= info.bandwidth
    audio_only = [v for v in master.playlists if not v.stream_info.resolution]
    assert len(audio_only) == 1 and audio_only[0].stream_info.codecs == audio_codec
    if fmt == "m3u8-aapl-v3":
        assert not master.media and not master.iframe_playlists
    else:
        (media,) = master.media
        assert (media.type, media.group_id, media.default, media.channels) == (
            "AUDIO", "audio", "YES", "2",
        )  # fmt: skip
        assert all(v.stream_info.audio == "audio" for v in master.playlists)
        assert len(master.iframe_playlists) == 3
        for iframe in master.iframe_playlists:
            _check_media_playlist(p, iframe.uri, fmt)
        _check_media_playlist(p, media.uri, fmt)
    for variant in master.playlists:
        _check_media_playlist(p, variant.uri, fmt)


def test_audio_only_false_and_options_reach_child_urls(abr: AbrSet) -> None:  # noqa: F811
    p = abr_presentation(abr)
    options = ManifestOptions("cbc", ("trim",), audio_only=False)
    master = m3u8.loads(build_master_playlist(p, "m3u8-aapl", options))
    assert all(v.stream_info.resolution for v in master.playlists)
    uris = [v.uri for v in master.playlists] + [m.uri for m in master.media]
    for uri in uris + [i.uri for i in master.iframe_playlists]:
        request = parse_streaming_path(uri)
        assert request.options == ManifestOptions("cbc", ("trim",))
    _check_media_playlist(p, uris[0], "m3u8-aapl")
    # the default master still lists the audio-only variant
    assert len(m3u8.loads(build_master_playlist(p, "m3u8-aapl")).playlists) == 4


@pytest.mark.parametrize("fmt", HLS_FORMATS)
def test_video_only_and_audio_only_masters(fmt: HlsFormat) -> None:
    video_only, audio_only = single_kind_presentations()
    master = m3u8.loads(build_master_playlist(video_only, fmt))
    assert not master.media and len(master.playlists) == 2
    assert all(v.stream_info.audio is None for v in master.playlists)
    assert all(v.stream_info.codecs == "avc1.64001F" for v in master.playlists)
    master = m3u8.loads(build_master_playlist(audio_only, fmt, ManifestOptions(audio_only=False)))
    assert not master.media and not master.iframe_playlists
    assert [v.stream_info.codecs for v in master.playlists] == ["mp4a.40.2", "mp4a.40.2"]
    for variant in master.playlists:
        _check_media_playlist(audio_only, variant.uri, fmt)


def test_key_tags_follow_the_map(abr: AbrSet) -> None:  # noqa: F811
    p = abr_presentation(abr)
    key = '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://k",KEYFORMAT="com.apple.streamingkeydelivery"'
    text = build_media_playlist(p, p.video[0], "m3u8-cmaf", key_tags=[key])
    lines = text.splitlines()
    init = '#EXT-X-MAP:URI="Fragments(video=i,format=m3u8-cmaf).mp4"'
    assert lines.index(key) == lines.index(init) + 1
    assert m3u8.loads(text).keys[-1].method == "SAMPLE-AES"


def test_i_frame_playlists_are_video_only(abr: AbrSet) -> None:  # noqa: F811
    p = abr_presentation(abr)
    with pytest.raises(InvalidRequestError):
        build_media_playlist(p, p.audio[0], "m3u8-aapl", keyframes=True)
    with pytest.raises(InvalidRequestError):
        build_media_playlist(p, p.video[0], "m3u8-aapl-v3", keyframes=True)


def test_ts_bandwidth_covers_the_muxed_segments(abr: AbrSet) -> None:  # noqa: F811
    """BANDWIDTH must not be below what the TS muxer really produces (nor far above it)."""
    p = abr_presentation(abr)
    master = m3u8.loads(build_master_playlist(p, "m3u8-aapl"))
    audio = p.audio[0]
    for variant, video in zip(master.playlists, p.video, strict=False):
        peak = 0.0
        for index in range(video.segment_count):
            parts = []
            for rendition, at in ((video, index), (audio, index)):
                first, end = rendition.segment_samples(at)
                data = abr.sample_data(rendition.source.file_name, rendition.track, first, end)
                parts.append(mux_ts_segment([TsTrackInput(rendition.track, first, end, data)]))
            seconds = video.durations_ticks[index] / video.timescale
            peak = max(peak, sum(len(part) for part in parts) * 8 / seconds)
        assert peak <= variant.stream_info.bandwidth <= peak * 1.25


def _segment_body(p: Presentation, abr: AbrSet, request: FragmentRequest) -> bytes:  # noqa: F811
    """What the origin serves for a segment URL (test-side, from the pure building blocks)."""
    rendition = find_rendition(p, request.bitrate, request.track)
    assert rendition is not None
    if request.time == "i":
        return build_init_segment([rendition.track])
    index = find_segment(rendition, request.time) or 0
    if request.keyframes:
        keyframe = find_keyframe(rendition, request.time)
        assert keyframe is not None
        parts = [(rendition, keyframe, keyframe + 1)]
    else:
        assert find_segment(rendition, request.time) is not None
        parts = [(rendition, *rendition.segment_samples(index))]
    if request.format == "m3u8-aapl-v3" and rendition.kind == "video":
        found = audio_segment_for(p, rendition, index)
        assert found is not None
        parts.append((found[0], *found[0].segment_samples(found[1])))
    inputs = [
        TsTrackInput(r.track, a, b, abr.sample_data(r.source.file_name, r.track, a, b))
        for r, a, b in parts
    ]
    if request.format == "m3u8-cmaf":
        (item,) = inputs
        return plan_fragment(item.track, item.first_sample, item.end_sample, 1).prefix + item.data
    return mux_ts_segment(inputs, segment_index=index)


def _write_site(p: Presentation, abr: AbrSet, fmt: HlsFormat, root: Path) -> None:  # noqa: F811
    """Every playlist and segment the master reaches, as files named by their URLs."""

    def write(path: str, body: str | bytes) -> None:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(body.encode() if isinstance(body, str) else body)

    master = build_master_playlist(p, fmt)
    write("manifest", master)
    parsed = m3u8.loads(master)
    uris = [v.uri for v in parsed.playlists] + [m.uri for m in parsed.media]
    for uri in uris + [i.uri for i in parsed.iframe_playlists]:
        text, _ = _playlist(p, uri)
        write(uri, text)
        playlist = m3u8.loads(text)
        names = [m.uri for m in playlist.segment_map] + [s.uri for s in playlist.segments]
        for name in names:
            request = parse_streaming_path(_resolve(uri, name))
            assert isinstance(request, FragmentRequest)
            write(_resolve(uri, name), _segment_body(p, abr, request))


@pytest.mark.parametrize("fmt", HLS_FORMATS)
def test_ffmpeg_plays_the_playlists(abr: AbrSet, fmt: HlsFormat, tmp_path: Path) -> None:  # noqa: F811
    """A real HLS client (ffmpeg's demuxer, over files) decodes every playlist to the end."""
    p = abr_presentation(abr)
    _write_site(p, abr, fmt, tmp_path)
    master = m3u8.loads((tmp_path / "manifest").read_text())
    hls = ["-f", "hls"]  # the master is a file named 'manifest'; no other flag
    expected = [(v.uri, 150 if v.stream_info.resolution else 0) for v in master.playlists]
    expected += [(i.uri, 3) for i in master.iframe_playlists]
    for uri, frames in expected:
        done = run(tools.ffmpeg(), "-v", "error", "-stats", *hls, "-i", tmp_path / uri,
                   "-map", "0:v?", "-map", "0:a?", "-f", "null", "-")  # fmt: skip
        counted = re.findall(r"frame=\s*(\d+)", done.stderr)
        assert (int(counted[-1]) if counted else 0) == frames, uri
        assert re.findall(r"time=(\S+)", done.stderr)[-1] != "N/A", uri


@given(
    st.lists(st.integers(1, 10**7), min_size=1, max_size=60),
    st.sampled_from([1000, 12800, 30000, 44100, 48000, 90000, 10**7]),
)
def test_durations_are_exact_and_add_up(durations: list[int], timescale: int) -> None:
    starts = np.concatenate(([0], np.cumsum(durations))).astype(np.int64)
    texts = format_durations(starts, timescale)
    micros = [round(float(t) * 1e6) for t in texts]
    # they telescope: the sum is the total, rounded once (half up)
    assert sum(micros) == (int(starts[-1]) * 1_000_000 + timescale // 2) // timescale
    assert all(len(t.split(".")[1]) in (3, 6) for t in texts)
    assert all(abs(m - d * 1e6 / timescale) <= 1 for m, d in zip(micros, durations, strict=True))


@pytest.mark.parametrize("fmt", HLS_FORMATS)
def test_golden_playlists(fmt: HlsFormat) -> None:
    p = golden_presentation()
    check_golden(f"hls_master_{fmt}.m3u8", build_master_playlist(p, fmt), update=UPDATE)
    video = build_media_playlist(p, p.video[0], fmt)
    check_golden(f"hls_video_{fmt}.m3u8", video, update=UPDATE)
    audio = build_media_playlist(p, p.audio[0], fmt)
    check_golden(f"hls_audio_{fmt}.m3u8", audio, update=UPDATE)
    if fmt != "m3u8-aapl-v3":
        iframes = build_media_playlist(p, p.video[1], fmt, keyframes=True)
        check_golden(f"hls_iframes_{fmt}.m3u8", iframes, update=UPDATE)


def _clear(p: Presentation) -> None:
    p.cache.clear()
    for rendition in p.renditions:
        rendition.cache.clear()


def test_two_hour_playlist_timings() -> None:
    p = long_presentation()
    video = p.video[0]
    assert len(m3u8.loads(build_media_playlist(p, video, "m3u8-aapl")).segments) == 3600
    report = []
    formats: tuple[HlsFormat, ...] = ("m3u8-aapl", "m3u8-cmaf")
    for fmt in formats:

        def uncached(fmt: HlsFormat = fmt) -> str:
            _clear(p)
            return build_media_playlist(p, video, fmt)

        def cached(fmt: HlsFormat = fmt) -> str:
            return build_media_playlist(p, video, fmt)

        def master(fmt: HlsFormat = fmt) -> str:
            return build_master_playlist(p, fmt)

        def master_uncached(fmt: HlsFormat = fmt) -> str:
            _clear(p)
            return build_master_playlist(p, fmt)

        report.append(
            f"{fmt}: media playlist p50 uncached {time_ms(uncached, repeat=10)[1]:.2f} ms, "
            f"cached {time_ms(cached)[1]:.3f} ms; master p50 uncached "
            f"{time_ms(master_uncached, repeat=10)[1]:.3f} ms, cached {time_ms(master)[1]:.4f} ms"
        )
    print("\n2-h HLS: " + "; ".join(report))
