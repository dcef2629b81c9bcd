"""Boxes round-trip; init segments and fragments decode with ffmpeg and match Shaka Packager."""

from __future__ import annotations

import timeit
from pathlib import Path

import numpy as np
import pytest

from openvod.encoding import tools
from openvod.media.mp4 import (
    BOX_TYPES,
    Box,
    RawBox,
    build_fragment,
    build_init_segment,
    parse_boxes,
    plan_fragment,
)
from openvod.media.mp4.boxes import (
    ContainerBox,
    FileTypeBox,
    MovieBox,
    MovieFragmentBox,
    TrackFragmentBox,
    iter_boxes,
    parse_box,
)
from openvod.media.mp4.fragment_boxes import (
    MovieExtendsHeaderBox,
    MovieFragmentHeaderBox,
    TrackExtendsBox,
    TrackFragmentDecodeTimeBox,
    TrackFragmentHeaderBox,
    TrackRunBox,
)
from openvod.media.mp4.movie_boxes import (
    DataEntryUrlBox,
    DataReferenceBox,
    EditEntry,
    EditListBox,
    HandlerBox,
    MediaHeaderBox,
    MovieHeaderBox,
    NullMediaHeaderBox,
    SampleDescriptionBox,
    SoundMediaHeaderBox,
    SubtitleMediaHeaderBox,
    TrackHeaderBox,
    VideoMediaHeaderBox,
)
from openvod.media.mp4.table_boxes import (
    ChunkLargeOffsetBox,
    ChunkOffsetBox,
    CompactSampleSizeBox,
    CompositionOffsetBox,
    SampleSizeBox,
    SampleToChunkBox,
    SyncSampleBox,
    TimeToSampleBox,
)
from openvod.media.segments import align_audio, presentation_times, segment_boundaries
from openvod.media.track import Track

from ._mp4_media import (
    Media,
    get_media,
    media,  # noqa: F401 (fixture)
    probe_packets,
    run,
    synthetic_video,
)
from .test_cenc_boxes import PROTECTION_EXAMPLES

U32 = np.uint32


def _u32(*values: int) -> np.ndarray:
    return np.array(values, dtype=U32)


EXAMPLES: dict[bytes, list[Box]] = {
    b"ftyp": [FileTypeBox("iso6", 0, ("iso6", "cmfc"))],
    b"mvhd": [MovieHeaderBox(1000, 6000, 3), MovieHeaderBox(90000, 2**40, 2)],
    b"tkhd": [TrackHeaderBox(1, 6000, 320 << 16, 180 << 16), TrackHeaderBox(2, 2**33, volume=256)],
    b"mdhd": [MediaHeaderBox(12800, 77312, "eng"), MediaHeaderBox(48000, 2**34, "und")],
    b"hdlr": [HandlerBox("vide", "openvod"), HandlerBox("soun", "")],
    b"vmhd": [VideoMediaHeaderBox()],
    b"smhd": [SoundMediaHeaderBox(-3)],
    b"nmhd": [NullMediaHeaderBox()],
    b"sthd": [SubtitleMediaHeaderBox()],
    b"url ": [DataEntryUrlBox(), DataEntryUrlBox("http://example.com/a.mp4")],
    b"dref": [DataReferenceBox()],
    b"stsd": [SampleDescriptionBox([RawBox(b"avc1", bytes(78))])],
    b"elst": [
        EditListBox([EditEntry(1000, -1), EditEntry(5000, 1024)]),
        EditListBox([EditEntry(2**33, 2**33)]),
    ],
    b"edts": [],
    b"stts": [TimeToSampleBox(_u32(3, 1), _u32(512, 256)), TimeToSampleBox()],
    b"ctts": [
        CompositionOffsetBox(_u32(1, 2), np.array([1024, 512], np.int32)),
        CompositionOffsetBox(_u32(1, 1), np.array([-512, 0], np.int32)),
    ],
    b"stsc": [SampleToChunkBox(_u32(1, 5), _u32(3, 2), _u32(1, 1))],
    b"stsz": [SampleSizeBox(0, 3, _u32(10, 20, 30)), SampleSizeBox(6, 100)],
    b"stz2": [
        CompactSampleSizeBox(16, _u32(1000, 2, 3)),
        CompactSampleSizeBox(8, _u32(1, 255)),
        CompactSampleSizeBox(4, _u32(1, 15, 7)),
    ],
    b"stco": [ChunkOffsetBox(np.array([48, 2**32 - 1], np.uint64))],
    b"co64": [ChunkLargeOffsetBox(np.array([48, 2**40], np.uint64))],
    b"stss": [SyncSampleBox(_u32(1, 51, 101))],
    b"trex": [TrackExtendsBox(2, 1, 1024, 0, 0x02000000)],
    b"mehd": [MovieExtendsHeaderBox(6000), MovieExtendsHeaderBox(2**35)],
    b"mfhd": [MovieFragmentHeaderBox(7)],
    b"tfhd": [
        TrackFragmentHeaderBox(1),
        TrackFragmentHeaderBox(2, False, 2**33, 1, 1024, 300, 0x01010000),
    ],
    b"tfdt": [TrackFragmentDecodeTimeBox(2**40)],
    b"trun": [
        TrackRunBox(
            2, 100, 0x02000000, _u32(512, 512), _u32(9, 8), None, np.array([-512, 1024], np.int32)
        ),
        TrackRunBox(3, None, None, None, _u32(1, 2, 3), _u32(1, 2, 3)),
        TrackRunBox(0),
    ],
}
EXAMPLES.update(PROTECTION_EXAMPLES)
# Containers get one example built from the leaves above.
for _fourcc, _cls in BOX_TYPES.items():
    if issubclass(_cls, ContainerBox):
        EXAMPLES[_fourcc] = [_cls([MovieFragmentHeaderBox(1), RawBox(b"uuid", b"x" * 20)])]


def test_every_registered_box_has_an_example() -> None:
    assert set(EXAMPLES) == set(BOX_TYPES)


@pytest.mark.parametrize(
    "box", [b for boxes in EXAMPLES.values() for b in boxes], ids=lambda b: repr(b.fourcc)
)
def test_box_round_trip(box: Box) -> None:
    data = box.to_bytes()
    assert box.size() == len(data)
    (parsed,) = parse_boxes(data)
    assert type(parsed) is type(box)
    assert parsed == box
    assert parsed.to_bytes() == data


def test_unknown_boxes_pass_through() -> None:
    raw = RawBox(b"abcd", b"hello").to_bytes()
    (parsed,) = parse_boxes(raw)
    assert isinstance(parsed, RawBox) and parsed.kind == b"abcd"
    assert parsed.to_bytes() == raw


def _fragment_track(media_file: Media, track: Track, bounds: np.ndarray, out: Path) -> list[int]:
    """Write init + every fragment of a track; returns the sample count per fragment."""
    data = bytearray(build_init_segment([track]))
    ends = [*bounds[1:].tolist(), len(track.samples)]
    for number, (first, end) in enumerate(zip(bounds.tolist(), ends, strict=True), start=1):
        plan = plan_fragment(track, first, end, number)
        sample_bytes = b"".join(media_file.data[o : o + n] for o, n in plan.reads)
        fragment = build_fragment(plan, sample_bytes)
        assert len(fragment) == plan.size_bytes
        data += fragment
    out.write_bytes(data)
    return [e - f for f, e in zip(bounds.tolist(), ends, strict=True)]


def _boundaries(media_file: Media) -> dict[str, np.ndarray]:
    video = media_file.movie.track("video")
    audio = media_file.movie.track("audio")
    assert video is not None and audio is not None
    cuts = segment_boundaries(video, 2 * video.timescale)
    times = presentation_times(video)[cuts] / video.timescale
    return {"video": cuts, "audio": align_audio(audio, times)}


def test_fragments_decode_like_the_source(media: Media, tmp_path: Path) -> None:  # noqa: F811
    source = probe_packets(media.path)
    bounds = _boundaries(media)
    for index, track in enumerate(media.movie.tracks):
        out = tmp_path / f"{track.kind}.mp4"
        _fragment_track(media, track, bounds[track.kind], out)
        decoded = run(tools.ffmpeg(), "-v", "error", "-i", out, "-f", "null", "-")
        assert decoded.stderr == ""
        got, want = probe_packets(out)[0], source[index]
        assert len(got["size"]) == len(want["size"]) == len(track.samples)
        np.testing.assert_array_equal(got["size"], want["size"])
        np.testing.assert_array_equal(got["key"], want["key"])
        np.testing.assert_array_equal(got["dts"], track.samples.dts)  # tfdt + durations
        # Presentation order and spacing match; ffmpeg shifts negative CMAF offsets by a constant.
        shift = got["pts"] - want["pts"]
        assert np.all(shift == shift[0])


def _moofs(path: Path) -> list[tuple[int, int]]:
    """(tfdt, sample count) of each fragment of a file."""
    data = path.read_bytes()
    found = []
    for header in iter_boxes(data, 0, len(data)):
        if header.fourcc != b"moof":
            continue
        moof = parse_box(data, header)
        assert isinstance(moof, MovieFragmentBox)
        traf = moof.find(b"traf")
        assert isinstance(traf, TrackFragmentBox)
        tfdt, trun = traf.find(b"tfdt"), traf.find(b"trun")
        assert isinstance(tfdt, TrackFragmentDecodeTimeBox) and isinstance(trun, TrackRunBox)
        found.append((tfdt.base_media_decode_time, trun.sample_count))
    return found


def test_video_fragments_match_shaka_packager(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    media_file = get_media("bframes", tmp_path_factory)
    video = media_file.movie.track("video")
    assert video is not None
    ours = tmp_path / "ours.mp4"
    _fragment_track(media_file, video, _boundaries(media_file)["video"], ours)
    shaka = tmp_path / "shaka.mp4"
    run(
        tools.packager(),
        f"in={media_file.path},stream=video,output={shaka}",
        "--segment_duration",
        "2",
    )
    assert _moofs(ours) == _moofs(shaka)


def test_init_segment_structure(tmp_path_factory: pytest.TempPathFactory) -> None:
    movie = get_media("faststart", tmp_path_factory).movie
    init = build_init_segment(movie.tracks)
    ftyp, moov = parse_boxes(init)
    assert isinstance(ftyp, FileTypeBox) and ftyp.major_brand == "iso6"
    assert isinstance(moov, MovieBox)
    assert [b.box_fourcc() for b in moov.children] == [b"mvhd", b"trak", b"trak", b"mvex"]
    assert moov.to_bytes().count(movie.tracks[0].sample_entry) == 1  # copied verbatim


def test_plan_coalesces_adjacent_samples() -> None:
    track = synthetic_video(60)
    plan = plan_fragment(track, 50, 100, 2)
    assert plan.reads == [(int(track.samples.offset[50]), int(track.samples.size[50:100].sum()))]
    assert plan.size_bytes == len(plan.prefix) + plan.data_size_bytes


def test_plan_data_offset_points_at_the_mdat_payload() -> None:
    track = synthetic_video(60)
    tfxd = RawBox(b"uuid", bytes(16) + bytes(20))
    plan = plan_fragment(track, 0, 50, 1, base_media_decode_time=7, extra_traf_boxes=[tfxd])
    moof, mdat_header = parse_boxes(plan.prefix[:-8]), plan.prefix[-8:]
    assert mdat_header[4:] == b"mdat"
    assert int.from_bytes(mdat_header[:4], "big") == 8 + plan.data_size_bytes
    traf = moof[0].find(b"traf")  # type: ignore[attr-defined]
    tfdt, trun = traf.find(b"tfdt"), traf.find(b"trun")
    assert tfdt.base_media_decode_time == 7
    assert trun.data_offset == len(plan.prefix)
    assert traf.children[-1] == tfxd
    assert trun.first_sample_flags == 0x02000000 and trun.sample_flags is None


def test_build_fragment_checks_the_data_size() -> None:
    plan = plan_fragment(synthetic_video(10), 0, 10, 1)
    with pytest.raises(ValueError):
        build_fragment(plan, b"short")
    with pytest.raises(ValueError):
        plan_fragment(synthetic_video(10), 5, 5, 1)


def test_plan_fragment_is_fast() -> None:
    track = synthetic_video(7200)  # a 2-hour track
    middle = len(track.samples) // 2
    runs = 200
    seconds = timeit.timeit(lambda: plan_fragment(track, middle, middle + 50, 1800), number=runs)
    assert seconds / runs < 1e-3
