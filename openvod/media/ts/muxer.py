"""MPEG-TS segments for HLS, built from MP4 samples with a few numpy operations.

Layout of a segment: one PAT packet, one PMT packet, then the PES packets of
all elementary streams interleaved in DTS order, each PES starting a new TS
packet and its last TS packet padded by adaptation-field stuffing.

Timestamps. PTS/DTS are the media time on the 90 kHz clock plus a constant
``timestamp_offset_90k`` (10 s by default, as Apple's segmenter does). The
offset keeps DTS non-negative when an edit list or B-frames make the first
decode time negative, and leaves room for the PCR to run ahead of the DTS.
Since every timestamp is a pure function of the sample's absolute time,
segment N+1 continues segment N exactly. Playlist builders that map WebVTT
cues to the TS clock (``X-TIMESTAMP-MAP``) use the same offset.

Continuity counters. The origin is stateless: segment N is built without
segment N-1. To keep the counters continuous anyway, every elementary-stream
PID is given a multiple of 16 packets per segment (by spreading its largest
PES over a few more packets, each still carrying at least one payload byte, so
the counter advances legitimately), so each segment starts at 0 and ends at
15; the PAT and PMT, one packet each per segment, use ``segment_index % 16``.
Players that concatenate segments see no discontinuity; a segment whose
streams are too small to pad falls back to counters that are only continuous
within the segment, which HLS players tolerate at segment starts.

PCR. Carried on the video PID (audio without video), in the adaptation field
of the first TS packet of every PES on that PID, ``PCR_LEAD_90K`` before its
DTS; with one PES per frame (or per <= 90 ms of audio) PCRs are < 100 ms apart
for frame rates of 10 fps and above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError
from openvod.media import adts, avc
from openvod.media.track import Track
from openvod.media.ts import psi
from openvod.media.ts.pes import (
    STREAM_ID_AUDIO,
    STREAM_ID_VIDEO,
    TIMESTAMP_MASK,
    PesPacket,
    audio_pes_packets,
    ticks_to_90k,
    video_pes_packets,
)

VIDEO_PID = 0x100
AUDIO_PID = 0x101  # further audio tracks take the next PIDs
DEFAULT_TIMESTAMP_OFFSET_90K = 900_000  # 10 s
PCR_LEAD_90K = 9_000  # 100 ms

_PAYLOAD_SIZE = psi.TS_PACKET_SIZE - 4
_PCR_FIELD_SIZE = 8  # adaptation_field_length, flags, 6 bytes of PCR
_FLAGS_FIELD_SIZE = 2  # adaptation_field_length, flags
_FLAG_PCR = 0x10
_FLAG_RANDOM_ACCESS = 0x40
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


@dataclass(frozen=True)
class TsStreamInfo:
    """How one track is carried in the transport stream."""

    pid: int
    stream_type: int
    stream_id: int


def ts_stream_infos(tracks: Sequence[Track]) -> list[TsStreamInfo]:
    """PID, stream type and PES stream id of each track: video on 0x100, audio from 0x101."""
    infos = []
    audio_index = 0
    for track in tracks:
        if track.kind == "video" and track.codec in _VIDEO_CODECS:
            is_hevc = _VIDEO_CODECS[track.codec] == "hevc"
            stream_type = psi.STREAM_TYPE_HEVC if is_hevc else psi.STREAM_TYPE_H264
            infos.append(TsStreamInfo(VIDEO_PID, stream_type, STREAM_ID_VIDEO))
        elif track.kind == "audio" and track.codec in _AUDIO_CODECS:
            pid, stream_id = AUDIO_PID + audio_index, STREAM_ID_AUDIO + audio_index
            infos.append(TsStreamInfo(pid, psi.STREAM_TYPE_AAC_ADTS, stream_id))
            audio_index += 1
        else:
            raise MediaError(f"cannot carry {track.kind} codec {track.codec!r} in MPEG-TS")
    if sum(info.pid == VIDEO_PID for info in infos) > 1:
        raise MediaError("an MPEG-TS segment carries at most one video track")
    return infos


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
    item: TsTrackInput, offset_90k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """PTS and DTS of the segment's samples on the 90 kHz clock, offset applied.

    The MP4 reader folds edit lists into negative composition offsets; MPEG-TS
    needs PTS >= DTS, so DTS is lowered by the track's most negative offset (one
    constant per track, so DTS stays continuous across segments).
    """
    samples, span = item.track.samples, slice(item.first_sample, item.end_sample)
    media_dts = samples.dts[span].astype(np.int64) + item.pts_offset_ticks
    pts = media_dts + samples.cts_offset[span]
    dts = media_dts + _dts_shift(samples.cts_offset)
    timescale = item.track.timescale
    return ticks_to_90k(pts, timescale) + offset_90k, ticks_to_90k(dts, timescale) + offset_90k


def _video_packets(item: TsTrackInput, info: TsStreamInfo, offset_90k: int) -> list[PesPacket]:
    track, span = item.track, slice(item.first_sample, item.end_sample)
    config: avc.NalConfig
    if _VIDEO_CODECS[track.codec] == "hevc":
        config = avc.parse_hvcc(track.codec_private)
    else:
        config = avc.parse_avcc(track.codec_private)
    keyframes = track.samples.sync[span]
    units = avc.annexb_access_units(item.data, track.samples.size[span], keyframes, config)
    pts, dts = _timestamps_90k(item, offset_90k)
    return video_pes_packets(info.pid, info.stream_id, units, pts, dts, keyframes)


def _audio_packets(item: TsTrackInput, info: TsStreamInfo, offset_90k: int) -> list[PesPacket]:
    track, span = item.track, slice(item.first_sample, item.end_sample)
    config = adts.parse_audio_specific_config(track.codec_private)
    sizes = track.samples.size[span]
    stream = adts.add_adts_headers(config, item.data, sizes)
    pts, _ = _timestamps_90k(item, offset_90k)
    durations = ticks_to_90k(track.samples.duration[span].astype(np.int64), track.timescale)
    frame_sizes = sizes.astype(np.int64) + adts.ADTS_HEADER_SIZE
    return audio_pes_packets(info.pid, info.stream_id, stream, frame_sizes, pts, durations)


def _check_input(item: TsTrackInput) -> None:
    count = len(item.track.samples)
    if not 0 <= item.first_sample <= item.end_sample <= count:
        raise MediaError(f"sample range {item.first_sample}..{item.end_sample} outside 0..{count}")


def mux_ts_segment(
    tracks: Sequence[TsTrackInput],
    *,
    segment_index: int = 0,
    timestamp_offset_90k: int = DEFAULT_TIMESTAMP_OFFSET_90K,
) -> bytes:
    """Build one self-contained MPEG-TS segment (PAT, PMT, interleaved PES) from MP4 samples.

    ``segment_index`` (the segment's position in its playlist) sets the PAT and
    PMT continuity counters so consecutive segments continue each other.
    Raises :class:`~openvod.errors.MediaError` for codecs TS cannot carry here
    (H.264, HEVC and AAC are supported) or malformed samples.
    """
    if not tracks:
        raise MediaError("a TS segment needs at least one track")
    infos = ts_stream_infos([item.track for item in tracks])
    packets: list[PesPacket] = []
    for item, info in zip(tracks, infos, strict=True):
        _check_input(item)
        build = _video_packets if item.track.kind == "video" else _audio_packets
        packets += build(item, info, timestamp_offset_90k)
    packets.sort(key=lambda packet: (packet.dts_90k, packet.pid))
    pcr_pid = VIDEO_PID if any(i.pid == VIDEO_PID for i in infos) else infos[0].pid
    cc = segment_index % _CC_MODULUS
    pmt_streams = [psi.PmtStream(info.stream_type, info.pid) for info in infos]
    head = psi.build_pat(continuity_counter=cc) + psi.build_pmt(
        pmt_streams, pcr_pid=pcr_pid, continuity_counter=cc
    )
    return head + packetize(packets, pcr_pid=pcr_pid).tobytes()


# --- packetization: PES packets -> 188-byte TS packets, vectorised --------------------------


def _payload_lengths(
    sizes: npt.NDArray[np.int64], first_caps: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Payload bytes of every TS packet: the first packet of a PES holds up to its
    capacity, the middle ones 184, the last one the rest."""
    starts = np.cumsum(counts) - counts
    lengths = np.full(int(counts.sum()), _PAYLOAD_SIZE, dtype=np.int64)
    lengths[starts] = first_caps
    last_lengths = sizes - first_caps - _PAYLOAD_SIZE * (counts - 2)
    lengths[starts + counts - 1] = np.where(counts == 1, sizes, last_lengths)
    return lengths


def _spread_lengths(size: int, first_cap: int, count: int) -> npt.NDArray[np.int64]:
    """Payload bytes of ``count`` packets carrying ``size`` bytes, packets filled in
    order but each keeping at least one byte for every packet after it."""
    caps = np.full(count, _PAYLOAD_SIZE, dtype=np.int64)
    caps[0] = first_cap
    reserved_after = np.arange(count - 1, -1, -1, dtype=np.int64)
    before = np.cumsum(caps) - caps
    return np.clip(size - reserved_after - before, 1, caps)


def _cc_padding(
    pids: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    first_caps: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
) -> dict[int, int]:
    """Extra TS packets per PES (by index) that make each PID's packet count a multiple of 16."""
    extra: dict[int, int] = {}
    for pid in np.unique(pids).tolist():
        members = np.flatnonzero(pids == pid)
        missing = -int(counts[members].sum()) % _CC_MODULUS
        largest = int(members[np.argmax(sizes[members])])
        # The first packet stays full so it holds the whole PES header.
        fits = sizes[largest] >= first_caps[largest] + counts[largest] + missing - 1
        if missing and fits:
            extra[largest] = missing
    return extra


def _pcr_bytes(pcr_90k: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """The 6-byte program_clock_reference fields (extension 0) of the given bases."""
    base = pcr_90k & TIMESTAMP_MASK
    fields = np.empty((base.size, 6), dtype=np.uint8)
    for column, shift in enumerate((25, 17, 9, 1)):
        fields[:, column] = (base >> shift) & 0xFF
    fields[:, 4] = ((base & 1) << 7) | 0x7E
    fields[:, 5] = 0
    return fields


def packetize(packets: Sequence[PesPacket], *, pcr_pid: int) -> npt.NDArray[np.uint8]:
    """Cut PES packets, in mux order, into TS packets: an (n, 188) uint8 array.

    Per-TS-packet work is all array arithmetic: payload lengths, headers,
    continuity counters and adaptation fields are computed as arrays and the
    concatenated PES bytes are scattered into the payload slots in one go.
    """
    if not packets:
        return np.empty((0, psi.TS_PACKET_SIZE), dtype=np.uint8)
    sizes = np.array([p.size_bytes for p in packets], dtype=np.int64)
    pids = np.array([p.pid for p in packets], dtype=np.int64)
    has_pcr = pids == pcr_pid
    random_access = np.array([p.random_access for p in packets], dtype=np.bool_)
    fixed_af = np.where(has_pcr, _PCR_FIELD_SIZE, np.where(random_access, _FLAGS_FIELD_SIZE, 0))
    first_caps = _PAYLOAD_SIZE - fixed_af
    counts = 1 + -(-np.maximum(sizes - first_caps, 0) // _PAYLOAD_SIZE)
    extra = _cc_padding(pids, sizes, first_caps, counts)
    for index, missing in extra.items():
        counts[index] += missing
    lengths = _payload_lengths(sizes, first_caps, counts)
    starts = np.cumsum(counts) - counts
    for index in extra:
        span = slice(starts[index], starts[index] + counts[index])
        lengths[span] = _spread_lengths(int(sizes[index]), int(first_caps[index]), counts[index])
    flags = (has_pcr * _FLAG_PCR + random_access * _FLAG_RANDOM_ACCESS).astype(np.int64)
    pcr = np.array([p.dts_90k for p in packets], dtype=np.int64) - PCR_LEAD_90K
    out = _packet_headers(np.repeat(pids, counts), starts, lengths)
    _write_adaptation_fields(out, starts, lengths, flags, _pcr_bytes(pcr[has_pcr]), has_pcr)
    stream = np.frombuffer(b"".join(c for p in packets for c in p.chunks), dtype=np.uint8)
    # Payloads are right-aligned in their packets, so in row-major order the payload
    # slots are exactly the PES bytes in order. uint8 keeps the mask cheap to build.
    columns = np.arange(psi.TS_PACKET_SIZE, dtype=np.uint8)
    payload_starts = (psi.TS_PACKET_SIZE - lengths).astype(np.uint8)
    out[columns >= payload_starts[:, None]] = stream
    return out


def _packet_headers(
    packet_pids: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
) -> npt.NDArray[np.uint8]:
    """Packets pre-filled with 0xFF stuffing and their 4-byte headers written."""
    out = np.full((packet_pids.size, psi.TS_PACKET_SIZE), 0xFF, dtype=np.uint8)
    unit_start = np.zeros(packet_pids.size, dtype=np.int64)
    unit_start[starts] = 0x40
    counters = np.empty(packet_pids.size, dtype=np.int64)
    for pid in np.unique(packet_pids).tolist():
        members = packet_pids == pid
        counters[members] = np.arange(int(members.sum())) % _CC_MODULUS
    has_af = np.where(lengths < _PAYLOAD_SIZE, 0x20, 0)
    out[:, 0] = psi.SYNC_BYTE
    out[:, 1] = unit_start | (packet_pids >> 8)
    out[:, 2] = packet_pids & 0xFF
    out[:, 3] = 0x10 | has_af | counters
    return out


def _write_adaptation_fields(
    out: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    flags: npt.NDArray[np.int64],
    pcr_fields: npt.NDArray[np.uint8],
    has_pcr: npt.NDArray[np.bool_],
) -> None:
    """Adaptation field length, flags (PCR, random access) and PCR; the rest stays 0xFF."""
    af_sizes = _PAYLOAD_SIZE - lengths
    with_af = np.flatnonzero(af_sizes > 0)
    out[with_af, 4] = af_sizes[with_af] - 1
    with_flags = np.flatnonzero(af_sizes > 1)
    packet_flags = np.zeros(lengths.size, dtype=np.int64)
    packet_flags[starts] = flags
    out[with_flags, 5] = packet_flags[with_flags]
    out[starts[has_pcr], 6:12] = pcr_fields
