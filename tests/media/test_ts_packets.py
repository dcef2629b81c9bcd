"""Packetization properties: PES packets in, TS packets read back with an independent reader."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openvod.media.ts import AUDIO_PID, DEFAULT_TIMESTAMP_OFFSET_90K, VIDEO_PID
from openvod.media.ts.packets import PCR_LEAD_90K, packetize
from openvod.media.ts.pes import PesStream, group_audio_frames, pes_headers

from ._ts_reader import read_ts

OFFSET = DEFAULT_TIMESTAMP_OFFSET_90K


@dataclass(frozen=True)
class _BytesPayload:
    """PES payloads given as bytes: a stand-in for the video and audio payload writers."""

    payloads: list[bytes]

    def write(self, dest: np.ndarray, offsets: np.ndarray) -> None:
        for at, payload in zip(offsets.tolist(), self.payloads, strict=True):
            dest[at : at + len(payload)] = np.frombuffer(payload, dtype=np.uint8)


def _stream(pid: int, payloads: list[bytes], dts: list[int], keys: list[bool]) -> PesStream:
    sizes = np.array([len(p) for p in payloads], dtype=np.int64)
    dts_90k = np.array(dts, dtype=np.int64)
    if pid == VIDEO_PID:
        headers = pes_headers(0xE0, sizes, np.stack([dts_90k + 3600, dts_90k], axis=1))
    else:
        headers = pes_headers(0xC0, sizes, dts_90k)
    random_access = np.array(keys, dtype=np.bool_)
    return PesStream(pid, dts_90k, headers, sizes, random_access, _BytesPayload(payloads))


# Payload sizes around the multiples of 184 (minus header and adaptation field) are
# where the stuffing does not fit the first packet or just fills it.
_payload_sizes = st.one_of(
    st.integers(1, 3000),
    st.builds(lambda k, d: 184 * k - d, st.integers(1, 4), st.integers(0, 40)).filter(
        lambda n: n > 0
    ),
)


@st.composite
def _streams(draw: st.DrawFn) -> list[PesStream]:
    streams = []
    for pid in draw(st.sampled_from([[VIDEO_PID], [AUDIO_PID], [VIDEO_PID, AUDIO_PID]])):
        sizes = draw(st.lists(_payload_sizes, min_size=0, max_size=12))
        payloads = [draw(st.binary(min_size=n, max_size=n)) for n in sizes]
        dts = sorted(draw(st.lists(st.integers(OFFSET, OFFSET + 50_000), min_size=len(sizes),
                                   max_size=len(sizes))))  # fmt: skip
        keys = [pid == AUDIO_PID or draw(st.booleans()) for _ in sizes]
        streams.append(_stream(pid, payloads, dts, keys))
    return streams


@settings(max_examples=200, deadline=None)
@given(_streams())
def test_packetize_round_trips_and_aligns_counters(streams: list[PesStream]) -> None:
    pcr_pid = streams[0].pid
    segment = packetize(streams, pcr_pid=pcr_pid).tobytes()
    ts = read_ts(segment)
    sent = sorted(
        (int(s.dts_90k[i]), s.pid, i, s) for s in streams for i in range(len(s))
    )  # mux order: DTS, then PID
    assert [(p.pid, len(p.data)) for p in ts.pes] == [
        (s.pid, s.headers.shape[1] + int(s.payload_sizes[i])) for _, _, i, s in sent
    ]
    for pes, (dts, pid, i, stream) in zip(ts.pes, sent, strict=True):
        assert isinstance(stream.payload, _BytesPayload)
        assert bytes(pes.data) == stream.headers[i].tobytes() + stream.payload.payloads[i]
        assert pes.first_payload_size >= stream.headers.shape[1]  # the PES header is whole
        assert pes.random_access == bool(stream.random_access[i])
        assert pes.pcr == (dts - PCR_LEAD_90K if pid == pcr_pid else None)
    for stream in streams:
        ccs = ts.ccs.get(stream.pid, [])
        assert ccs == [i % 16 for i in range(len(ccs))]
        sizes = stream.headers.shape[1] + stream.payload_sizes
        fixed_af = 8 if stream.pid == pcr_pid else 2 * stream.random_access
        if len(stream) and (sizes + fixed_af)[sizes.argmax()] > 184:  # the largest spans two
            assert len(ccs) % 16 == 0


def test_stuffing_that_does_not_fit_beside_the_header_opens_the_second_packet() -> None:
    # 19-byte header + 8-byte PCR field + 164 payload bytes = 191: two packets with
    # 177 bytes of stuffing, more than the first packet can hold beside the header.
    payload = bytes(range(164))
    stream = _stream(VIDEO_PID, [payload, payload], [OFFSET, OFFSET + 3600], [True, False])
    packets = packetize([stream], pcr_pid=VIDEO_PID).tobytes()
    ts = read_ts(packets)
    assert [bytes(pes.data[19:]) for pes in ts.pes] == [payload, payload]
    assert [pes.first_payload_size for pes in ts.pes] == [19, 19]  # header only
    # 165 + 20 bytes of adaptation field (length fields one less); the first (largest)
    # PES also takes the continuity padding: 12 more packets of one payload byte each.
    assert ts.af_lengths == [164, 19 + 12] + [182] * 12 + [164, 19]
    assert ts.ccs[VIDEO_PID] == list(range(16))


def _greedy_groups(pts: list[int], durations: list[int]) -> list[int]:
    """The audio grouping rule, frame by frame."""
    starts: list[int] = []
    for index, (start, duration) in enumerate(zip(pts, durations, strict=True)):
        if not starts or index - starts[-1] >= 5 or start + duration - pts[starts[-1]] > 8100:
            starts.append(index)
    return starts


@given(st.lists(st.tuples(st.integers(-3000, 3000), st.integers(0, 9000)), max_size=40))
def test_audio_groups_follow_the_greedy_rule(steps: list[tuple[int, int]]) -> None:
    pts = np.cumsum([step for step, _ in steps], dtype=np.int64)
    durations = np.array([duration for _, duration in steps], dtype=np.int64)
    groups = group_audio_frames(pts, durations).tolist()
    assert groups == _greedy_groups(pts.tolist(), durations.tolist())
    regular = np.arange(len(steps), dtype=np.int64) * 1920  # 48 kHz AAC: 4 frames per PES
    assert group_audio_frames(regular, np.full(len(steps), 1920)).tolist() == _greedy_groups(
        regular.tolist(), [1920] * len(steps)
    )
