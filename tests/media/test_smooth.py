"""Smooth Streaming: manifest XML, exact 10 MHz chunk times, fragments that decode."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvod.encoding import tools
from openvod.media import avc
from openvod.media.mp4 import build_init_segment, parse_boxes
from openvod.media.mp4.boxes import ContainerBox, RawBox
from openvod.media.mp4.fragment_boxes import (
    TrackFragmentDecodeTimeBox,
    TrackFragmentHeaderBox,
    TrackRunBox,
)
from openvod.media.presentation import Presentation, Rendition, find_rendition
from openvod.media.smooth import (
    SMOOTH_TIMESCALE,
    TFXD_UUID,
    build_smooth_manifest,
    find_smooth_segment,
    plan_smooth_fragment,
    smooth_segment_track,
    smooth_time_to_track_ticks,
    track_ticks_to_smooth_time,
)
from openvod.media.urls import FragmentRequest, parse_streaming_path

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


def _chunk_times(stream: ET.Element) -> list[tuple[int, int]]:
    """(t, d) of every chunk, expanding ``r`` (the run's total count)."""
    chunks, t = [], 0
    for c in stream.findall("c"):
        t = int(c.get("t", t))
        for _ in range(int(c.get("r", "1"))):
            chunks.append((t, int(c.attrib["d"])))
            t += int(c.attrib["d"])
    return chunks


def _fragment_url(stream: ET.Element, bitrate: str, t: int) -> str:
    return stream.attrib["Url"].replace("{bitrate}", bitrate).replace("{start time}", str(t))


def test_real_manifest_chunks_are_exact(abr: AbrSet) -> None:  # noqa: F811
    p = abr_presentation(abr)
    root = ET.fromstring(build_smooth_manifest(p))
    assert root.attrib["MajorVersion"] == "2" and root.attrib["TimeScale"] == "10000000"
    assert int(root.attrib["Duration"]) == 60_000_000
    video, audio = root.findall("StreamIndex")
    assert (video.attrib["Type"], video.attrib["MaxWidth"], video.attrib["Chunks"]) == (
        "video", "320", "3",
    )  # fmt: skip
    for stream, renditions in ((video, p.video), (audio, p.audio)):
        chunks = _chunk_times(stream)
        levels = stream.findall("QualityLevel")
        assert [int(q.attrib["Bitrate"]) for q in levels] == [r.bitrate_bps for r in renditions]
        assert len(chunks) == int(stream.attrib["Chunks"])
        for level, rendition in zip(levels, renditions, strict=True):
            expected = [
                track_ticks_to_smooth_time(int(t), rendition.timescale)
                for t in rendition.start_ticks
            ]
            assert [t for t, _ in chunks] == expected[:-1]
            assert chunks[-1][0] + chunks[-1][1] == expected[-1]
            for index, (t, _) in enumerate(chunks):
                request = parse_streaming_path(_fragment_url(stream, level.attrib["Bitrate"], t))
                assert isinstance(request, FragmentRequest) and request.format == "smooth"
                found = find_rendition(p, request.bitrate, request.track)
                assert found is rendition
                assert isinstance(request.time, int)
                assert find_smooth_segment(p, rendition, request.time) == index
                ticks = smooth_time_to_track_ticks(request.time, rendition.timescale)
                assert ticks == rendition.start_ticks[index]
            assert find_smooth_segment(p, rendition, chunks[0][0] + 1) is None


def test_codec_private_data(abr: AbrSet) -> None:  # noqa: F811
    p = abr_presentation(abr)
    root = ET.fromstring(build_smooth_manifest(p))
    video, audio = root.findall("StreamIndex")
    level = video.find("QualityLevel")
    assert level is not None and level.attrib["FourCC"] == "H264"
    config = avc.parse_avcc(p.video[0].track.codec_private)
    nals = avc.split_annexb(bytes.fromhex(level.attrib["CodecPrivateData"]))
    assert nals == [*config.sps, *config.pps]
    level = audio.find("QualityLevel")
    assert level is not None
    assert level.attrib["CodecPrivateData"] == p.audio[0].track.codec_private.hex().upper()
    assert (level.attrib["FourCC"], level.attrib["Channels"], level.attrib["AudioTag"]) == (
        "AACL", "2", "255",
    )  # fmt: skip


@given(st.integers(1, SMOOTH_TIMESCALE), st.integers(-(2**40), 2**40))
def test_time_conversion_round_trips(timescale: int, ticks: int) -> None:
    hns = track_ticks_to_smooth_time(ticks, timescale)
    assert smooth_time_to_track_ticks(hns, timescale) == ticks
    assert abs(hns - ticks * SMOOTH_TIMESCALE / timescale) < 1 + abs(hns) * 1e-15


def _find(box: ContainerBox, path: list[bytes]) -> list[object]:
    found: list[object] = [box]
    for fourcc in path:
        found = [c for f in found if isinstance(f, ContainerBox) for c in f.find_all(fourcc)]
    return found


def _fragments(p: Presentation, abr: AbrSet, rendition: Rendition) -> list[bytes]:  # noqa: F811
    out = []
    for index in range(rendition.segment_count):
        plan = plan_smooth_fragment(p, rendition, index)
        data = b"".join(
            abr.files[rendition.source.file_name][offset : offset + size]
            for offset, size in plan.reads
        )
        out.append(plan.prefix + data)
    return out


@pytest.mark.parametrize("kind", ["video", "audio"])
def test_fragments_carry_manifest_times(abr: AbrSet, kind: str, tmp_path: Path) -> None:  # noqa: F811
    p = abr_presentation(abr)
    rendition = p.video[1] if kind == "video" else p.audio[0]
    starts = [
        track_ticks_to_smooth_time(int(t), rendition.timescale) for t in rendition.start_ticks
    ]
    fragments = _fragments(p, abr, rendition)
    for index, fragment in enumerate(fragments):
        (moof, _mdat) = parse_boxes(fragment)
        assert isinstance(moof, ContainerBox)
        (tfdt,) = _find(moof, [b"traf", b"tfdt"])
        assert isinstance(tfdt, TrackFragmentDecodeTimeBox)
        assert tfdt.base_media_decode_time == starts[index]
        (trun,) = _find(moof, [b"traf", b"trun"])
        (tfhd,) = _find(moof, [b"traf", b"tfhd"])
        assert isinstance(trun, TrackRunBox) and isinstance(tfhd, TrackFragmentHeaderBox)
        if trun.durations is None:
            assert tfhd.default_sample_duration is not None
            total = tfhd.default_sample_duration * trun.sample_count
        else:
            total = int(trun.durations.sum())
        assert total == starts[index + 1] - starts[index]
        (uuid,) = _find(moof, [b"traf", b"uuid"])
        assert isinstance(uuid, RawBox) and uuid.payload[:16] == TFXD_UUID
        time, duration = np.frombuffer(uuid.payload[20:36], dtype=">u8").tolist()
        assert (time, duration) == (starts[index], starts[index + 1] - starts[index])
    # a Smooth client's view: an init segment in 10 MHz, then the fragments
    init = build_init_segment([smooth_segment_track(rendition, 0)])
    path = tmp_path / "smooth.mp4"
    path.write_bytes(init + b"".join(fragments))
    out = run(
        tools.ffprobe(), "-v", "error", "-show_entries", "packet=dts,duration", "-of", "json", path
    ).stdout
    packets = json.loads(out)["packets"]
    assert len(packets) == len(rendition.track.samples)
    dts = [int(packet["dts"]) for packet in packets]
    assert dts[0] == 0 and all(b > a for a, b in zip(dts, dts[1:], strict=False))
    assert sum(int(packet["duration"]) for packet in packets) == starts[-1]
    run(tools.ffmpeg(), "-v", "error", "-i", path, "-f", "null", "-")  # decodes cleanly


def test_video_only_and_audio_only_manifests() -> None:
    video_only, audio_only = single_kind_presentations()
    (video,) = ET.fromstring(build_smooth_manifest(video_only)).findall("StreamIndex")
    assert video.attrib["QualityLevels"] == "2"
    streams = ET.fromstring(build_smooth_manifest(audio_only)).findall("StreamIndex")
    assert [s.attrib["Language"] for s in streams] == ["eng", "fra"]
    assert len({s.attrib["Name"] for s in streams}) == 2


def test_golden_manifest() -> None:
    check_golden("smooth.ismc", build_smooth_manifest(golden_presentation()), update=UPDATE)


def test_two_hour_manifest_timing() -> None:
    p = long_presentation()

    def uncached() -> object:
        p.cache.clear()
        for rendition in p.renditions:
            rendition.cache.clear()
        return build_smooth_manifest(p)

    root = ET.fromstring(str(uncached()))
    assert len(_chunk_times(root.findall("StreamIndex")[0])) == 3600
    _, cold = time_ms(uncached, repeat=20)
    _, warm = time_ms(lambda: build_smooth_manifest(p))
    plan = time_ms(lambda: plan_smooth_fragment(p, p.video[0], 1800))[1]
    print(
        f"\n2-h Smooth manifest: uncached p50 {cold:.3f} ms, cached p50 {warm:.4f} ms; "
        f"fragment plan p50 {plan:.3f} ms"
    )
