"""MPEG-TS segments for HLS, built from MP4 samples with a few dozen numpy operations.

Layout of a segment: one PAT packet, one PMT packet, then the PES packets of
all elementary streams interleaved in DTS order, each PES starting a new TS
packet with its header whole in that packet. The stuffing a PES needs to fill
whole TS packets goes in the adaptation field of its first packet, after the
flags and PCR (or, when that leaves no room for the header, partly in its
second packet), so each PES payload is contiguous: a video frame is copied in
one piece, then the whole segment goes under its TS headers in one strided
copy (:mod:`openvod.media.ts.layout`, :mod:`openvod.media.ts.packets`).

Timestamps. PTS/DTS are the media time on the 90 kHz clock plus a constant
``timestamp_offset_90k`` (10 s by default, as Apple's segmenter does). The
offset keeps DTS non-negative when an edit list or B-frames make the first
decode time negative, and leaves room for the PCR to run ahead of the DTS.
Since every timestamp is a pure function of the sample's absolute time,
segment N+1 continues segment N exactly. Playlist builders that map WebVTT
cues to the TS clock (``X-TIMESTAMP-MAP``) use the same offset.

Continuity counters. The origin is stateless: segment N is built without
segment N-1. To keep the counters continuous anyway, every elementary-stream
PID is given a multiple of 16 packets per segment (by spreading the last
packet's payload of its largest PES over a few more packets, each still
carrying at least one payload byte, so the counter advances legitimately),
so each segment starts at 0 and ends at 15; the PAT and PMT, one packet each
per segment, use ``segment_index % 16``. Players that concatenate segments
see no discontinuity; a segment whose largest PES fits one TS packet falls
back to counters that are only continuous within the segment, which HLS
players tolerate at segment starts.

PCR. Carried on the video PID (audio without video), in the adaptation field
of the first TS packet of every PES on that PID, ``packets.PCR_LEAD_90K``
(100 ms) before its DTS; with one PES per frame (or per <= 90 ms of audio)
PCRs are < 100 ms apart for frame rates of 10 fps and above.

Plans. :func:`plan_ts_segment` frames the same segment without copying the
samples and keeps what it wrote and where the samples go
(:class:`~openvod.media.ts.plan.TsSegmentPlan`, a few percent of the
segment), so a server can rebuild a segment asked for again from its sample
data with :func:`~openvod.media.ts.plan.apply_ts_plan`: the same bytes as
:func:`mux_ts_packets`, for a fraction of the cost.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media import adts, avc
from openvod.media.track import Track
from openvod.media.ts import psi
from openvod.media.ts.packets import FramedPackets, finish_packets, frame_packets, packetize
from openvod.media.ts.pes import (
    STREAM_ID_AUDIO,
    STREAM_ID_VIDEO,
    PesStream,
    audio_pes_stream,
    ticks_to_90k,
    video_pes_stream,
)
from openvod.media.ts.plan import TrackCopies, TsSegmentPlan, copy_payloads, plan_from_framed
from openvod.media.ts.sample_aes import sample_aes_signal

VIDEO_PID = 0x100
AUDIO_PID = 0x101  # further audio tracks take the next PIDs
DEFAULT_TIMESTAMP_OFFSET_90K = 900_000  # 10 s
_CC_MODULUS = 16

_VIDEO_CODECS = {"avc1": "avc", "avc3": "avc", "hvc1": "hevc", "hev1": "hevc"}
_AUDIO_CODECS = {"mp4a"}


@dataclass(frozen=True)
class TsTrackInput:
    """The samples of one track that go into a segment.

    ``data`` is the bytes of samples ``first_sample`` .. ``end_sample - 1``
    back to back, as the caller range-read them. ``pts_offset_ticks`` (in the
    track's timescale) is added to every DTS and PTS, e.g. to shift a clip.
    """

    track: Track
    first_sample: int
    end_sample: int
    data: bytes
    pts_offset_ticks: int = 0
    # the size of each sample in ``data`` when it differs from the stored one (SAMPLE-AES
    # video: encrypted slices re-escaped); None: the track's sample sizes
    sample_sizes: npt.NDArray[np.integer] | None = None

    def sizes(self) -> npt.NDArray[np.integer]:
        """The size of each sample in ``data``."""
        if self.sample_sizes is not None:
            return self.sample_sizes
        return self.track.samples.size[self.first_sample : self.end_sample]


@dataclass(frozen=True)
class TsStreamInfo:
    """How one track is carried in the transport stream."""

    pid: int
    stream_type: int
    stream_id: int


def ts_stream_infos(tracks: Sequence[Track]) -> list[TsStreamInfo]:
    """PID, stream type and PES stream id of each track: video on 0x100, audio from 0x101."""
    return list(_stream_infos(tuple((track.kind, track.codec) for track in tracks)))


@functools.lru_cache(maxsize=64)
def _stream_infos(kinds_and_codecs: tuple[tuple[str, str], ...]) -> tuple[TsStreamInfo, ...]:
    infos = []
    audio_index = 0
    for kind, codec in kinds_and_codecs:
        if kind == "video" and codec in _VIDEO_CODECS:
            is_hevc = _VIDEO_CODECS[codec] == "hevc"
            stream_type = psi.STREAM_TYPE_HEVC if is_hevc else psi.STREAM_TYPE_H264
            infos.append(TsStreamInfo(VIDEO_PID, stream_type, STREAM_ID_VIDEO))
        elif kind == "audio" and codec in _AUDIO_CODECS:
            pid, stream_id = AUDIO_PID + audio_index, STREAM_ID_AUDIO + audio_index
            infos.append(TsStreamInfo(pid, psi.STREAM_TYPE_AAC_ADTS, stream_id))
            audio_index += 1
        else:
            raise MediaError(f"cannot carry {kind} codec {codec!r} in MPEG-TS")
    if sum(info.pid == VIDEO_PID for info in infos) > 1:
        raise MediaError("an MPEG-TS segment carries at most one video track")
    return tuple(infos)


_DTS_SHIFTS: dict[int, tuple[npt.NDArray[np.int32], int]] = {}


def _dts_shift(cts_offset: npt.NDArray[np.int32]) -> int:
    """min(0, min(cts_offset)) of a track, computed once per sample table."""
    cached = _DTS_SHIFTS.get(id(cts_offset))
    if cached is not None and cached[0] is cts_offset:
        return cached[1]
    shift = min(0, int(cts_offset.min())) if cts_offset.size else 0
    if len(_DTS_SHIFTS) > 256:
        _DTS_SHIFTS.clear()
    _DTS_SHIFTS[id(cts_offset)] = (cts_offset, shift)
    return shift


def _timestamps_90k(
    item: TsTrackInput, offset_90k: int, *, with_dts: bool
) -> npt.NDArray[np.int64]:
    """PTS of the segment's samples on the 90 kHz clock, offset applied; with
    ``with_dts`` a (samples, 2) array of PTS and DTS.

    The MP4 reader folds edit lists into negative composition offsets; MPEG-TS
    needs PTS >= DTS, so DTS is lowered by the track's most negative offset (one
    constant per track, so DTS stays continuous across segments).
    """
    samples, span = item.track.samples, slice(item.first_sample, item.end_sample)
    media_dts = samples.dts[span]
    if item.pts_offset_ticks:
        media_dts = media_dts + item.pts_offset_ticks
    if with_dts:
        times = np.empty((media_dts.size, 2), dtype=np.int64)
        np.add(media_dts, samples.cts_offset[span], out=times[:, 0])
        np.add(media_dts, _dts_shift(samples.cts_offset), out=times[:, 1])
    else:
        times = media_dts + samples.cts_offset[span]
    times = ticks_to_90k(times, item.track.timescale)
    times += offset_90k
    return times


@functools.lru_cache(maxsize=64)
def _nal_config(codec: str, codec_private: bytes) -> avc.NalConfig:
    """The parsed avcC/hvcC of a track (parsed once per distinct record)."""
    if _VIDEO_CODECS[codec] == "hevc":
        return avc.parse_hvcc(codec_private)
    return avc.parse_avcc(codec_private)


@functools.lru_cache(maxsize=64)
def _aac_config(codec_private: bytes) -> adts.AacConfig:
    """The parsed AudioSpecificConfig of a track (parsed once per distinct config)."""
    return adts.parse_audio_specific_config(codec_private)


def _video_stream(item: TsTrackInput, info: TsStreamInfo, offset_90k: int) -> PesStream:
    track, span = item.track, slice(item.first_sample, item.end_sample)
    config = _nal_config(track.codec, track.codec_private)
    keyframes = track.samples.sync[span]
    units = avc.plan_access_units(item.data, item.sizes(), keyframes, config)
    timestamps = _timestamps_90k(item, offset_90k, with_dts=True)
    return video_pes_stream(info.pid, info.stream_id, units, timestamps, keyframes)


def _audio_stream(item: TsTrackInput, info: TsStreamInfo, offset_90k: int) -> PesStream:
    track, span = item.track, slice(item.first_sample, item.end_sample)
    config = _aac_config(track.codec_private)
    sizes = item.sizes()
    pts = _timestamps_90k(item, offset_90k, with_dts=False)
    durations = ticks_to_90k(track.samples.duration[span], track.timescale)
    return audio_pes_stream(info.pid, info.stream_id, config, item.data, sizes, pts, durations)


def _check_input(item: TsTrackInput) -> None:
    count = len(item.track.samples)
    if not 0 <= item.first_sample <= item.end_sample <= count:
        raise MediaError(f"sample range {item.first_sample}..{item.end_sample} outside 0..{count}")
    if (
        item.sample_sizes is not None
        and len(item.sample_sizes) != item.end_sample - item.first_sample
    ):
        raise MediaError("one sample size per sample of the range is needed")


def mux_ts_segment(
    tracks: Sequence[TsTrackInput],
    *,
    segment_index: int = 0,
    timestamp_offset_90k: int = DEFAULT_TIMESTAMP_OFFSET_90K,
    sample_aes: bool = False,
) -> bytes:
    """Build one self-contained MPEG-TS segment (PAT, PMT, interleaved PES) from MP4 samples.

    The bytes of :func:`mux_ts_packets`.
    """
    packets = mux_ts_packets(
        tracks, segment_index=segment_index, timestamp_offset_90k=timestamp_offset_90k,
        sample_aes=sample_aes,
    )  # fmt: skip
    return packets.tobytes()


def mux_ts_packets(
    tracks: Sequence[TsTrackInput],
    *,
    segment_index: int = 0,
    timestamp_offset_90k: int = DEFAULT_TIMESTAMP_OFFSET_90K,
    sample_aes: bool = False,
) -> npt.NDArray[np.uint8]:
    """One self-contained MPEG-TS segment (PAT, PMT, interleaved PES), as a flat uint8 array
    (no copy into ``bytes``: a server can send the array's buffer as it is).

    ``segment_index`` (the segment's position in its playlist) sets the PAT and
    PMT continuity counters so consecutive segments continue each other.
    ``sample_aes``: the samples given are SAMPLE-AES encrypted
    (:mod:`openvod.media.crypto.ts_sample_aes`); the PMT announces them so
    (:mod:`openvod.media.ts.sample_aes`).
    Raises :class:`~openvod.errors.MediaError` for codecs TS cannot carry here
    (H.264, HEVC and AAC are supported) or malformed samples.

    This is the one-off build: each PES is written in place, its samples
    copied as it goes. :func:`plan_ts_segment` makes the same segment
    replayable (:func:`~openvod.media.ts.plan.apply_ts_plan`) for a segment
    that is asked for again.
    """
    streams, pcr_pid, head = _pes_streams(tracks, segment_index, timestamp_offset_90k,
                                          sample_aes=sample_aes)  # fmt: skip
    return packetize(streams, pcr_pid=pcr_pid, leading_packets=head)


def plan_ts_segment(
    tracks: Sequence[TsTrackInput],
    *,
    segment_index: int = 0,
    timestamp_offset_90k: int = DEFAULT_TIMESTAMP_OFFSET_90K,
) -> TsSegmentPlan:
    """The plan of the segment :func:`mux_ts_packets` makes of ``tracks``, for
    :func:`~openvod.media.ts.plan.apply_ts_plan` to rebuild it from the same sample data.

    The sample bytes are read once, to find the NAL units of the video samples.
    """
    framed, head = _frame(tracks, segment_index, timestamp_offset_90k)
    return plan_from_framed(framed, head, [len(item.data) for item in tracks])


def plan_and_mux_ts_segment(
    tracks: Sequence[TsTrackInput],
    *,
    segment_index: int = 0,
    timestamp_offset_90k: int = DEFAULT_TIMESTAMP_OFFSET_90K,
) -> tuple[TsSegmentPlan, npt.NDArray[np.uint8]]:
    """:func:`plan_ts_segment` and :func:`mux_ts_packets` with one build."""
    framed, head = _frame(tracks, segment_index, timestamp_offset_90k)
    plan = plan_from_framed(framed, head, [len(item.data) for item in tracks])
    return plan, _fill(framed, head, tracks)


def _frame(
    tracks: Sequence[TsTrackInput], segment_index: int, timestamp_offset_90k: int
) -> tuple[FramedPackets, bytes]:
    """The segment's PES packets framed (see :func:`~openvod.media.ts.packets.frame_packets`)
    and its PAT and PMT packets."""
    streams, pcr_pid, head = _pes_streams(tracks, segment_index, timestamp_offset_90k)
    return frame_packets(streams, pcr_pid=pcr_pid), head


def _pes_streams(
    tracks: Sequence[TsTrackInput],
    segment_index: int,
    timestamp_offset_90k: int,
    *,
    sample_aes: bool = False,
) -> tuple[list[PesStream], int, bytes]:
    """The PES streams of the tracks, the PCR PID and the PAT and PMT packets."""
    if not tracks:
        raise MediaError("a TS segment needs at least one track")
    infos = ts_stream_infos([item.track for item in tracks])
    streams: list[PesStream] = []
    for item, info in zip(tracks, infos, strict=True):
        _check_input(item)
        build = _video_stream if item.track.kind == "video" else _audio_stream
        streams.append(build(item, info, timestamp_offset_90k))
    pcr_pid = VIDEO_PID if any(i.pid == VIDEO_PID for i in infos) else infos[0].pid
    pmt_streams = tuple((info.stream_type, info.pid, b"") for info in infos)
    if sample_aes:
        signals = [sample_aes_signal(t.track.kind, t.track.codec, t.track.codec_private)
                   for t in tracks]  # fmt: skip
        pmt_streams = tuple((signal.stream_type, info.pid, signal.descriptors)
                            for signal, info in zip(signals, infos, strict=True))  # fmt: skip
    head = _psi_packets(pmt_streams, pcr_pid, segment_index % _CC_MODULUS)
    return streams, pcr_pid, head


def _fill(
    framed: FramedPackets, head: bytes, tracks: Sequence[TsTrackInput]
) -> npt.NDArray[np.uint8]:
    """The framed segment with its samples copied in, under its TS headers."""
    copies = [
        TrackCopies(len(item.data), c.dest_offsets, c.src_offsets, c.sizes)
        for c, item in zip(framed.copies, tracks, strict=True)
    ]
    data = [item.data for item in tracks]
    copy_payloads(framed.padded, copies, framed.start_code_bytes, data)
    return finish_packets(framed.padded, framed.header_words, head)


@functools.lru_cache(maxsize=256)
def _psi_packets(streams: tuple[tuple[int, int, bytes], ...], pcr_pid: int, counter: int) -> bytes:
    """The PAT and PMT packets that start every segment, for (stream type, PID, ES
    descriptors): the same for all segments of a rendition but for their continuity counters."""
    pat = psi.build_pat(continuity_counter=counter)
    pmt_streams = [psi.PmtStream(stream_type, pid, descriptors)
                   for stream_type, pid, descriptors in streams]  # fmt: skip
    return pat + psi.build_pmt(pmt_streams, pcr_pid=pcr_pid, continuity_counter=counter)
