"""locate_moov and parse_movie on real ffmpeg files, checked with ffprobe and Shaka Packager."""

from __future__ import annotations

import contextlib
import struct
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openvod.errors import MediaError
from openvod.media.mp4 import MoovLocation, NeedBytes, locate_moov, parse_movie, read_brands
from openvod.media.mp4.boxes import RawBox
from openvod.media.mp4.codecs import hevc_codec_string, parse_audio_specific_config

from ._mp4_media import (
    Media,
    get_media,
    media,  # noqa: F401 (fixture)
    probe_packets,
    probe_streams,
    shaka_codecs,
    synthetic_audio,
    synthetic_moov,
    synthetic_video,
)

AVC_PROFILES = {"Baseline": 66, "Constrained Baseline": 66, "Main": 77, "High": 100}


def _box(fourcc: bytes, payload: bytes) -> bytes:
    return RawBox(fourcc, payload).to_bytes()


def test_locate_moov_first(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = get_media("faststart", tmp_path_factory).data
    where = locate_moov(data[:4096], len(data))
    assert isinstance(where, MoovLocation)
    assert data[where.offset + 4 : where.offset + 8] == b"moov"
    assert struct.unpack(">I", data[where.offset : where.offset + 4])[0] == where.size
    assert read_brands(data[:4096])[0] == "isom"


def test_locate_moov_at_the_end_asks_for_the_right_bytes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = get_media("moov_end", tmp_path_factory).data
    need = locate_moov(data[:4096], len(data))
    assert isinstance(need, NeedBytes)
    assert data[need.offset + 4 : need.offset + 8] == b"moov"  # just after the mdat
    assert need.offset + need.size <= len(data)
    where = locate_moov(data[need.offset : need.offset + 16], len(data), head_offset=need.offset)
    assert where == MoovLocation(need.offset, len(data) - need.offset)


def test_locate_moov_large_size_and_size_zero() -> None:
    ftyp = _box(b"ftyp", b"iso6\0\0\0\0iso6cmfc")
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + 100) + bytes(100)  # 64-bit size
    moov = struct.pack(">I4s", 0, b"moov") + bytes(40)  # size 0: to the end of the file
    data = ftyp + mdat + moov
    assert locate_moov(data, len(data)) == MoovLocation(len(ftyp) + len(mdat), 48)
    need = locate_moov(data[:30], len(data))  # the mdat's header straddles the end
    assert need == NeedBytes(len(ftyp), len(data) - len(ftyp))
    assert read_brands(data) == ("iso6", "cmfc")


def test_locate_moov_errors() -> None:
    ftyp = _box(b"ftyp", b"isom\0\0\0\0")
    no_moov = ftyp + _box(b"mdat", bytes(10))
    with pytest.raises(MediaError, match="no 'moov'"):
        locate_moov(no_moov, len(no_moov))
    overrun = ftyp + struct.pack(">I4s", 1000, b"moov")
    with pytest.raises(MediaError, match="past the end"):
        locate_moov(overrun, len(overrun))
    with pytest.raises(MediaError, match="invalid size"):
        locate_moov(struct.pack(">I4s", 3, b"ftyp"), 8)


def test_samples_match_ffprobe(media: Media) -> None:  # noqa: F811
    packets = probe_packets(media.path)
    assert [t.kind for t in media.movie.tracks] == ["video", "audio"]
    for index, track in enumerate(media.movie.tracks):
        want, samples = packets[index], track.samples
        assert len(samples) == len(want["size"])
        np.testing.assert_array_equal(samples.size, want["size"])
        np.testing.assert_array_equal(samples.offset, want["pos"])
        np.testing.assert_array_equal(samples.sync, want["key"])
        np.testing.assert_array_equal(samples.dts + samples.cts_offset, want["pts"])
        # ffprobe shifts decode times by the edit list; ours start at 0.
        np.testing.assert_array_equal(samples.dts - samples.dts[0], want["dts"] - want["dts"][0])
        assert samples.dts[0] == 0
        np.testing.assert_array_equal(np.diff(samples.dts), samples.duration[:-1])


def test_bframes_have_composition_offsets(tmp_path_factory: pytest.TempPathFactory) -> None:
    video = get_media("bframes", tmp_path_factory).movie.track("video")
    assert video is not None
    assert np.any(video.samples.cts_offset < 0)
    assert np.all(video.samples.cts_offset[video.samples.sync] == 0)  # edit list folded in


def test_track_facts_match_ffprobe(media: Media) -> None:  # noqa: F811
    streams = probe_streams(media.path)
    video, audio = media.movie.tracks
    assert video.codec == "avc1"
    assert video.codec_string.lower() == str(streams[0]["mime_codec_string"]).lower()
    profile, level = int(video.codec_string[5:7], 16), int(video.codec_string[9:11], 16)
    assert profile == AVC_PROFILES[str(streams[0]["profile"])]
    assert level == streams[0]["level"]
    assert (video.width, video.height) == (320, 180)
    assert video.frame_rate == Fraction(25)
    assert audio.codec_string == streams[1]["mime_codec_string"] == "mp4a.40.2"
    assert (audio.sample_rate_hz, audio.channels) == (48000, 1)
    assert audio.timescale == 48000 and audio.language == "und"
    assert abs(audio.bitrate_bps - int(str(streams[1]["bit_rate"]))) <= 0.01 * audio.bitrate_bps
    assert video.max_bitrate_bps >= video.bitrate_bps > 0
    assert media.movie.file_size_bytes == len(media.data)
    assert media.movie.duration_ticks == 6000 and media.movie.movie_timescale == 1000


def test_codec_strings_match_shaka_packager(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    hevc = get_media("hevc", tmp_path_factory)
    (track,) = hevc.movie.tracks
    assert track.codec == "hvc1"
    assert track.codec_string == shaka_codecs(hevc.path, "video", tmp_path)
    avc = get_media("faststart", tmp_path_factory)
    assert avc.movie.tracks[0].codec_string.lower() == shaka_codecs(avc.path, "video", tmp_path)
    assert avc.movie.tracks[1].codec_string == shaka_codecs(avc.path, "audio", tmp_path)


def test_codec_string_helpers() -> None:
    hvcc = bytes([1, 0x22, 0x20, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 120])
    assert hevc_codec_string("hev1", hvcc) == "hev1.2.4.H120.90"
    assert parse_audio_specific_config(bytes([0x11, 0x90])) == (2, 48000, 2)
    he_aac = bytes([0x2B, 0x11, 0x88])  # AOT 5, 24 kHz core, stereo, 48 kHz output
    assert parse_audio_specific_config(he_aac) == (5, 48000, 2)


def test_truncated_or_malformed_moov(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = get_media("faststart", tmp_path_factory).data
    where = locate_moov(data, len(data))
    assert isinstance(where, MoovLocation)
    moov = data[where.offset : where.offset + where.size]
    with pytest.raises(MediaError, match="truncated 'moov'"):
        parse_movie(moov[:-10], len(data))
    with pytest.raises(MediaError, match="not a 'moov'"):
        parse_movie(b"\0\0\0\x08free", len(data))
    with pytest.raises(MediaError, match="beyond the end of the file"):
        parse_movie(moov, 1000)
    with pytest.raises(MediaError, match="no 'mvhd'"):
        parse_movie(_box(b"moov", _box(b"free", b"")), len(data))
    broken = bytearray(moov)
    at = broken.find(b"stsz")
    broken[at + 12 : at + 16] = struct.pack(">I", 10**6)  # more samples than the table holds
    with pytest.raises(MediaError, match="stsz"):
        parse_movie(bytes(broken), len(data))


def test_parse_a_two_hour_moov_quickly() -> None:
    video, audio = synthetic_video(7200), synthetic_audio(7200, first_offset=10**9)
    moov = synthetic_moov(video, audio)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        movie = parse_movie(moov, 2 * 10**9)
        best = min(best, time.perf_counter() - started)
    parsed_video, parsed_audio = movie.tracks
    for parsed, original in ((parsed_video, video), (parsed_audio, audio)):
        for name in ("dts", "cts_offset", "duration", "size", "offset", "sync"):
            np.testing.assert_array_equal(
                getattr(parsed.samples, name), getattr(original.samples, name)
            )
    assert parsed_video.codec_string == "avc1.640028" and parsed_video.frame_rate == 25
    assert (parsed_audio.sample_rate_hz, parsed_audio.channels) == (48000, 2)
    assert parsed_video.language == "eng"
    assert best < 0.5, f"parse_movie took {best * 1e3:.1f} ms"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_corrupt_moov_raises_media_error_only(
    edits: list[tuple[int, int]], cut: int | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = get_media("bframes", tmp_path_factory).data
    where = locate_moov(data, len(data))
    assert isinstance(where, MoovLocation)
    moov = bytearray(data[where.offset : where.offset + where.size])
    for position, value in edits:
        moov[position % len(moov)] = value
    if cut is not None:
        moov = moov[: cut % len(moov)]
    with contextlib.suppress(MediaError):
        parse_movie(bytes(moov), len(data))


def test_constant_sample_size_larger_than_the_file() -> None:
    track = synthetic_audio(1)
    moov = bytearray(synthetic_moov(track))
    at = moov.find(b"stsz")
    moov[at + 8 : at + 16] = struct.pack(">II", 1000, 4_000_000_000)
    with pytest.raises(MediaError, match="more sample data"):
        parse_movie(bytes(moov), 10**6)


def test_locate_moov_never_loops_on_a_truncated_large_header() -> None:
    ftyp = _box(b"ftyp", b"isom\0\0\0\0")
    data = ftyp + struct.pack(">I4s", 1, b"mdat") + b"\0\0"  # 64-bit size cut short
    with pytest.raises(MediaError, match="truncated box header"):
        locate_moov(data, len(data))
