"""CENC 'cenc' and 'cbcs' on real H.264 + AAC: ffmpeg decrypts what we write, Shaka agrees.

Each track is written as one file (protected init + every fragment): ffmpeg
given the key decodes exactly the frames of the clear fragments; without it
the decode differs; our own test decryption gives back the source samples;
and Shaka Packager, encrypting the same file with the same key, writes the
same 'tenc' and the same subsample map for the first video sample.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from openvod.encoding import tools
from openvod.media.crypto import (
    TrackProtection,
    build_protected_init_segment,
    cbcs_protection,
    cenc_protection,
    encrypt_fragment,
)
from openvod.media.crypto.pssh import common_pssh, playready_pssh, widevine_pssh
from openvod.media.mp4 import build_fragment, build_init_segment, parse_boxes, plan_fragment
from openvod.media.mp4.boxes import ContainerBox
from openvod.media.mp4.codecs import describe_sample_entry
from openvod.media.segments import align_audio, presentation_times, segment_boundaries
from openvod.media.track import Track

from ._cenc_decrypt import decrypt_file, read_protection, read_samples
from ._mp4_media import Media, get_media, load, run

KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
KID = bytes.fromhex("00112233445566778899aabbccddeeff")
SHAKA_IV = bytes.fromhex("0123456789abcdef0123456789abcdef")


def _protection(scheme: str, track: Track) -> TrackProtection:
    if scheme == "cenc":
        return cenc_protection(KID, KEY, track.track_id)
    return cbcs_protection(KID, KEY, track.track_id, constant_iv=SHAKA_IV)


def _bounds(media: Media, track: Track) -> list[int]:
    video = media.movie.track("video")
    assert video is not None
    cuts = segment_boundaries(video, 2 * video.timescale)
    if track.kind == "video":
        return [int(c) for c in cuts]
    times = presentation_times(video)[cuts] / video.timescale
    return [int(c) for c in align_audio(track, times)]


def write_track(media: Media, track: Track, out: Path, protection: TrackProtection | None) -> Path:
    """Init + all fragments of one track, clear or protected, into one file."""
    if protection is None:
        data = bytearray(build_init_segment([track]))
    else:
        pssh = [common_pssh([KID]), widevine_pssh([KID], scheme=protection.scheme),
                playready_pssh([KID], scheme=protection.scheme)]  # fmt: skip
        data = bytearray(build_protected_init_segment([track], {track.track_id: protection}, pssh))
    bounds = _bounds(media, track)
    ends = [*bounds[1:], len(track.samples)]
    for number, (first, end) in enumerate(zip(bounds, ends, strict=True), start=1):
        plan = plan_fragment(track, first, end, number)
        sample_bytes = b"".join(media.data[o : o + n] for o, n in plan.reads)
        if protection is None:
            data += build_fragment(plan, sample_bytes)
        else:
            data += encrypt_fragment(plan, sample_bytes, track, protection, first)
    out.write_bytes(data)
    return out


def framemd5(path: Path, key: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """ffmpeg's per-frame MD5s of a file's decoded frames (key given or not)."""
    args = [str(tools.ffmpeg()), "-v", "error", "-nostdin"]
    if key is not None:
        args += ["-decryption_key", key.hex()]
    args += ["-i", str(path), "-f", "framemd5", "-"]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)


def _frames(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if not line.startswith("#")]


def _source_samples(media: Media, track: Track) -> list[bytes]:
    samples = track.samples
    return [
        media.data[o : o + n]
        for o, n in zip(samples.offset.tolist(), samples.size.tolist(), strict=True)
    ]


@pytest.fixture(scope="module", params=["faststart", "bframes"])
def media(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Media:
    """H.264 + AAC, without and with B-frames."""
    return get_media(request.param, tmp_path_factory)


@pytest.mark.parametrize("kind", ["video", "audio"])
@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_ffmpeg_decrypts_to_the_clear_frames(
    media: Media, scheme: str, kind: str, tmp_path: Path
) -> None:
    track = media.movie.track(kind)  # type: ignore[arg-type]
    assert track is not None
    clear = write_track(media, track, tmp_path / "clear.mp4", None)
    protected = write_track(media, track, tmp_path / "protected.mp4", _protection(scheme, track))
    want = framemd5(clear)
    assert want.returncode == 0, want.stderr
    got = framemd5(protected, KEY)
    assert got.returncode == 0, got.stderr
    assert len(_frames(want)) >= len(track.samples) - 2  # the AAC decoder's priming aside
    assert _frames(got) == _frames(want)
    without_key = framemd5(protected)
    assert without_key.returncode != 0 or _frames(without_key) != _frames(want)
    wrong_key = framemd5(protected, bytes(16))
    assert wrong_key.returncode != 0 or _frames(wrong_key) != _frames(want)


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_our_decryption_gives_back_the_source_samples(
    media: Media, scheme: str, tmp_path: Path
) -> None:
    for track in media.movie.tracks:
        path = write_track(media, track, tmp_path / f"{track.kind}.mp4", _protection(scheme, track))
        data = path.read_bytes()
        source = _source_samples(media, track)
        stored = [s.data for s in read_samples(data, read_protection(data).tenc.per_sample_iv_size)]
        assert len(stored) == len(source)
        # Every sample is encrypted (no clear lead); 'cbcs' leaves samples under a block clear.
        assert all(a != b for a, b in zip(stored, source, strict=True) if len(b) >= 16)
        assert decrypt_file(data, KEY) == source
        assert decrypt_file(data, bytes(16)) != source


def _shaka(media: Media, stream: str, scheme: str, out: Path) -> Path:
    args: list[str | Path] = [
        tools.packager(),
        f"in={media.path},stream={stream},output={out}",
        "--enable_raw_key_encryption",
        "--keys",
        f"label=:key_id={KID.hex()}:key={KEY.hex()}",
        "--protection_scheme",
        scheme,
        "--clear_lead",
        "0",
    ]
    if scheme == "cbcs":
        args += ["--iv", SHAKA_IV.hex()]
    run(*args)
    return out


@pytest.mark.parametrize("kind", ["video", "audio"])
@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_init_and_maps_match_shaka_packager(
    media: Media, scheme: str, kind: str, tmp_path: Path
) -> None:
    track = media.movie.track(kind)  # type: ignore[arg-type]
    assert track is not None
    ours = write_track(media, track, tmp_path / "ours.mp4", _protection(scheme, track))
    shaka = _shaka(media, kind, scheme, tmp_path / "shaka.mp4")
    ours_bytes, shaka_bytes = ours.read_bytes(), shaka.read_bytes()
    mine, theirs = read_protection(ours_bytes), read_protection(shaka_bytes)
    assert (mine.scheme, mine.entry_type, mine.original_format) == (
        theirs.scheme,
        theirs.entry_type,
        theirs.original_format,
    )
    assert mine.tenc == theirs.tenc  # version, KID, IV size or constant IV, pattern
    assert mine.sinf == theirs.sinf  # frma, schm and schi/tenc, byte for byte
    iv_size = mine.tenc.per_sample_iv_size
    our_samples = read_samples(ours_bytes, iv_size)
    shaka_samples = read_samples(shaka_bytes, iv_size)
    assert len(our_samples) == len(shaka_samples) == len(track.samples)
    first_ours, first_shaka = our_samples[0], shaka_samples[0]
    assert first_ours.subsamples == first_shaka.subsamples
    if kind == "video":
        assert first_ours.subsamples is not None and len(first_ours.subsamples) >= 1
    # Shaka's samples decrypt with our test decryption to the same clear bytes as ours.
    source = _source_samples(media, track)
    assert decrypt_file(shaka_bytes, KEY)[:5] == source[:5] == decrypt_file(ours_bytes, KEY)[:5]


def test_every_video_map_matches_shaka_packager(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    media = get_media("bframes", tmp_path_factory)
    video = media.movie.track("video")
    assert video is not None
    for scheme in ("cenc", "cbcs"):
        ours = write_track(media, video, tmp_path / f"{scheme}.mp4", _protection(scheme, video))
        shaka = _shaka(media, "video", scheme, tmp_path / f"shaka-{scheme}.mp4")
        iv_size = 8 if scheme == "cenc" else 0
        mine = [s.subsamples for s in read_samples(ours.read_bytes(), iv_size)]
        theirs = [s.subsamples for s in read_samples(shaka.read_bytes(), iv_size)]
        assert mine == theirs
        sizes = np.array([sum(c + p for c, p in m or []) for m in mine])
        np.testing.assert_array_equal(sizes, video.samples.size)


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_hevc_maps_match_shaka_packager_and_ffmpeg_decrypts(
    scheme: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    media = get_media("hevc", tmp_path_factory)
    video = media.movie.track("video")
    assert video is not None and video.codec == "hvc1"
    ours = write_track(media, video, tmp_path / "ours.mp4", _protection(scheme, video))
    shaka = _shaka(media, "video", scheme, tmp_path / "shaka.mp4")
    ours_bytes, shaka_bytes = ours.read_bytes(), shaka.read_bytes()
    assert read_protection(ours_bytes).tenc == read_protection(shaka_bytes).tenc
    iv_size = 8 if scheme == "cenc" else 0
    mine = [s.subsamples for s in read_samples(ours_bytes, iv_size)]
    theirs = [s.subsamples for s in read_samples(shaka_bytes, iv_size)]
    assert mine == theirs
    assert decrypt_file(ours_bytes, KEY) == _source_samples(media, video)
    clear = framemd5(write_track(media, video, tmp_path / "clear.mp4", None))
    got = framemd5(ours, KEY)
    assert got.returncode == 0, got.stderr
    assert _frames(got) == _frames(clear) and len(_frames(got)) == len(video.samples)


_SOURCE_2S = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2"]
# Bitstreams that exercise other slice header paths: CAVLC, interlaced (field pictures),
# several slices per picture, weighted prediction, HEVC B-frames with slices, wavefront
# entry points and reference picture sets written in the slice headers.
VARIANTS: dict[str, list[str]] = {
    "avc-baseline-cavlc": ["-c:v", "libx264", "-profile:v", "baseline", "-slices", "3"],
    "avc-interlaced": ["-c:v", "libx264", "-flags", "+ilme+ildct", "-x264-params",
                       "tff=1:weightp=2:bframes=3:b-pyramid=normal:ref=4"],
    "hevc-bframes-wpp": ["-c:v", "libx265", "-preset", "medium", "-tag:v", "hvc1",
                           "-x265-params", "log-level=error:bframes=4:weightb=1:weightp=1"
                           ":slices=2:ref=3:rc-lookahead=10"],
}  # fmt: skip


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_slice_header_variants_match_shaka_packager(
    variant: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("variant") / f"{variant}.mp4"
    run(tools.ffmpeg(), "-v", "error", "-y", *_SOURCE_2S, *VARIANTS[variant],
        "-g", "25", "-movflags", "+faststart", path)  # fmt: skip
    media = Media(variant, path, path.read_bytes(), load(path))
    video = media.movie.track("video")
    assert video is not None
    for scheme in ("cenc", "cbcs"):
        ours = write_track(media, video, tmp_path / f"{scheme}.mp4", _protection(scheme, video))
        shaka = _shaka(media, "video", scheme, tmp_path / f"shaka-{scheme}.mp4")
        iv_size = 8 if scheme == "cenc" else 0
        mine = [s.subsamples for s in read_samples(ours.read_bytes(), iv_size)]
        theirs = [s.subsamples for s in read_samples(shaka.read_bytes(), iv_size)]
        assert len(mine) == len(video.samples)
        assert mine == theirs, scheme
        assert decrypt_file(ours.read_bytes(), KEY) == _source_samples(media, video)


def test_protected_init_structure(tmp_path_factory: pytest.TempPathFactory) -> None:
    media = get_media("faststart", tmp_path_factory)
    tracks = media.movie.tracks
    protections = {t.track_id: _protection("cenc", t) for t in tracks}
    pssh = [common_pssh([KID]), widevine_pssh([KID]), playready_pssh([KID])]
    init = build_protected_init_segment(tracks, protections, pssh)
    clear_init = build_init_segment(tracks)
    _, moov = parse_boxes(init)
    assert isinstance(moov, ContainerBox)
    assert [b.box_fourcc() for b in moov.children] == [
        b"mvhd",
        b"trak",
        b"trak",
        b"mvex",
        b"pssh",
        b"pssh",
        b"pssh",
    ]
    for track in tracks:
        entry = protect_sample_entry_of(init, track)
        assert entry[4:8] == (b"encv" if track.kind == "video" else b"enca")
        described = describe_sample_entry(entry)
        assert described.codec_string == track.codec_string  # looked up through 'frma'
        # the original entry's payload is kept byte for byte, the sinf follows it
        assert entry[8 : len(track.sample_entry)] == track.sample_entry[8:]
    assert len(init) > len(clear_init)
    assert build_protected_init_segment(tracks, {}, ()) == clear_init


def protect_sample_entry_of(init: bytes, track: Track) -> bytes:
    """The sample entry of ``track`` in an init segment (found by its original payload)."""
    at = init.find(track.sample_entry[8:40])
    assert at > 8
    start = at - 8
    size = int.from_bytes(init[start : start + 4], "big")
    return init[start : start + size]


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_pssh_boxes_are_shaka_packagers(
    scheme: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    media = get_media("faststart", tmp_path_factory)
    out = tmp_path / "shaka.mp4"
    run(tools.packager(), f"in={media.path},stream=audio,output={out}",
        "--enable_raw_key_encryption", "--keys", f"label=:key_id={KID.hex()}:key={KEY.hex()}",
        "--protection_scheme", scheme, "--protection_systems", "Widevine,PlayReady,CommonSystem",
        "--clear_lead", "0")  # fmt: skip
    moov = next(b for b in parse_boxes(out.read_bytes()) if b.box_fourcc() == b"moov")
    assert isinstance(moov, ContainerBox)
    theirs = {b.system_id: b.to_bytes() for b in moov.find_all(b"pssh")}  # type: ignore[attr-defined]
    ours = [
        common_pssh([KID]),
        widevine_pssh([KID], scheme=scheme),  # type: ignore[arg-type]
        playready_pssh([KID], scheme=scheme, content_key=KEY),  # type: ignore[arg-type]
    ]
    assert theirs == {b.system_id: b.to_bytes() for b in ours}
