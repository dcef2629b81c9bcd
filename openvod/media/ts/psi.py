"""Program-specific information: the PAT and PMT sections, each in one TS packet.

An HLS segment is a single-program transport stream (RFC 8216 §3.2) that must
be decodable on its own, so every segment starts with one PAT packet and one
PMT packet. Sections are short enough to fit a single 188-byte packet.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

TS_PACKET_SIZE = 188
SYNC_BYTE = 0x47
PAT_PID = 0x0000
PMT_PID = 0x1000
PROGRAM_NUMBER = 1
TRANSPORT_STREAM_ID = 1

STREAM_TYPE_AAC_ADTS = 0x0F  # ISO/IEC 13818-7 audio with ADTS transport syntax
STREAM_TYPE_H264 = 0x1B
STREAM_TYPE_HEVC = 0x24

_TABLE_ID_PAT = 0x00
_TABLE_ID_PMT = 0x02
_CRC_POLY = 0x04C11DB7


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ _CRC_POLY) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 of ``data`` (poly 0x04C11DB7, init 0xFFFFFFFF, not reflected, no xor-out)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


@dataclass(frozen=True)
class PmtStream:
    """One elementary stream listed in the PMT."""

    stream_type: int  # e.g. STREAM_TYPE_H264
    pid: int
    descriptors: bytes = b""  # the ES_info descriptors, whole (e.g. SAMPLE-AES signalling)


def _section(table_id: int, table_id_extension: int, body: bytes) -> bytes:
    """A long-form PSI section (syntax indicator set, version 0, current) ending in its CRC."""
    section_length = 5 + len(body) + 4  # the 5 bytes after the length field, the body, the CRC
    head = struct.pack(
        ">BHHBBB",
        table_id,
        0xB000 | section_length,  # section_syntax_indicator=1, '0', reserved '11'
        table_id_extension,
        0xC1,  # reserved '11', version_number 0, current_next_indicator 1
        0,  # section_number
        0,  # last_section_number
    )
    section = head + body
    return section + struct.pack(">I", crc32_mpeg2(section))


def _psi_packet(pid: int, section: bytes, continuity_counter: int) -> bytes:
    """One TS packet carrying ``section`` after a zero pointer_field, stuffed with 0xFF."""
    header = struct.pack(">BHB", SYNC_BYTE, 0x4000 | pid, 0x10 | (continuity_counter & 0x0F))
    packet = header + b"\x00" + section
    if len(packet) > TS_PACKET_SIZE:
        raise ValueError("PSI section does not fit one TS packet")
    return packet + b"\xff" * (TS_PACKET_SIZE - len(packet))


def build_pat(*, continuity_counter: int = 0, pmt_pid: int = PMT_PID) -> bytes:
    """The 188-byte TS packet holding a PAT with one program whose PMT is on ``pmt_pid``."""
    body = struct.pack(">HH", PROGRAM_NUMBER, 0xE000 | pmt_pid)
    section = _section(_TABLE_ID_PAT, TRANSPORT_STREAM_ID, body)
    return _psi_packet(PAT_PID, section, continuity_counter)


def build_pmt(
    streams: Sequence[PmtStream],
    *,
    pcr_pid: int,
    continuity_counter: int = 0,
    pmt_pid: int = PMT_PID,
) -> bytes:
    """The 188-byte TS packet holding the PMT of the single program."""
    body = struct.pack(">HH", 0xE000 | pcr_pid, 0xF000)  # program_info_length 0
    for stream in streams:
        es_info = 0xF000 | len(stream.descriptors)  # reserved '1111', ES_info_length
        body += struct.pack(">BHH", stream.stream_type, 0xE000 | stream.pid, es_info)
        body += stream.descriptors
    section = _section(_TABLE_ID_PMT, PROGRAM_NUMBER, body)
    return _psi_packet(pmt_pid, section, continuity_counter)
