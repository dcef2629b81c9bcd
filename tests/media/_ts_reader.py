"""An independent MPEG-TS reader for the tests: packet by packet, asserting validity as it goes."""

from __future__ import annotations

from dataclasses import dataclass, field

from openvod.media.ts import PMT_PID


def crc32_mpeg2_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (crc >> 31) ^ ((byte >> bit) & 1)
            crc = (crc << 1) & 0xFFFFFFFF
            if top:
                crc ^= 0x04C11DB7
    return crc


def _timestamp(b: bytes) -> int:
    return ((b[0] >> 1) & 7) << 30 | (b[1] << 7 | b[2] >> 1) << 15 | (b[3] << 7 | b[4] >> 1)


@dataclass
class Pes:
    pid: int
    data: bytearray
    random_access: bool
    pcr: int | None
    first_payload_size: int  # payload bytes in the PES's first TS packet


@dataclass
class TsSegment:
    """What a segment holds, read packet by packet."""

    pids: list[int] = field(default_factory=list)
    af_lengths: list[int | None] = field(default_factory=list)  # None: no adaptation field
    ccs: dict[int, list[int]] = field(default_factory=dict)
    pes: list[Pes] = field(default_factory=list)
    sections: dict[int, bytes] = field(default_factory=dict)


def read_ts(segment: bytes) -> TsSegment:
    """Read a segment, asserting every packet is valid and carries payload."""
    assert len(segment) % 188 == 0
    ts = TsSegment()
    open_pes: dict[int, Pes] = {}
    for pos in range(0, len(segment), 188):
        packet = segment[pos : pos + 188]
        assert packet[0] == 0x47
        pid = (packet[1] & 0x1F) << 8 | packet[2]
        pusi = bool(packet[1] & 0x40)
        control = (packet[3] >> 4) & 3
        assert control in (1, 3)  # every packet of ours carries payload
        ts.pids.append(pid)
        ts.ccs.setdefault(pid, []).append(packet[3] & 0x0F)
        body = 4
        flags, pcr = 0, None
        ts.af_lengths.append(packet[4] if control == 3 else None)
        if control == 3:
            af_length = packet[4]
            assert af_length <= 182
            if af_length:
                flags = packet[5]
                assert all(b == 0xFF for b in packet[6 + 6 * bool(flags & 0x10) : 5 + af_length])
            if flags & 0x10:
                pcr = int.from_bytes(packet[6:12], "big") >> 15
            body = 5 + af_length
        payload = packet[body:]
        assert payload
        if pid in (0, PMT_PID):
            assert pusi and payload[0] == 0
            ts.sections[pid] = payload[1 : 4 + ((payload[2] & 0x0F) << 8 | payload[3])]
        elif pusi:
            open_pes[pid] = Pes(pid, bytearray(payload), bool(flags & 0x40), pcr, len(payload))
            ts.pes.append(open_pes[pid])
        else:
            assert pcr is None
            open_pes[pid].data += payload
    return ts


def pes_fields(pes: Pes) -> tuple[int, int | None, bytes]:
    """PTS, DTS and payload of a PES packet, checking its declared length."""
    data = bytes(pes.data)
    assert data[:3] == b"\x00\x00\x01"
    length = int.from_bytes(data[4:6], "big")
    assert length in (0, len(data) - 6)
    flags, header_length = data[7] >> 6, data[8]
    pts = _timestamp(data[9:14])
    dts = _timestamp(data[14:19]) if flags == 3 else None
    return pts, dts, data[9 + header_length :]
