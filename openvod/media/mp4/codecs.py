"""Sample entries: codec strings (RFC 6381), picture size and audio format.

Supports AVC (avcC), HEVC (hvcC), VP9 (vpcC), AV1 (av1C) and MPEG-4 audio
(esds, with the AudioSpecificConfig); other entries get their fourcc as codec
string. Encrypted entries (encv/enca) are described by their original format.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from openvod.errors import MediaError
from openvod.media.mp4.boxes import BoxHeader, iter_boxes, read_box_header

_VISUAL_CHILDREN_AT = 78  # payload offset of a VisualSampleEntry's child boxes
_AUDIO_CHILDREN_AT = 28  # same for AudioSampleEntry version 0
_AUDIO_EXTRA_BY_VERSION = {0: 0, 1: 16, 2: 36}  # QuickTime sound description versions
_AAC_RATES = (
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
)
_AAC_CHANNELS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 8, 11: 7, 12: 8, 13: 24, 14: 8}
_PLAIN_CODEC_STRINGS = {"Opus": "opus", "fLaC": "flac"}
_VIDEO_CONFIGS = (b"avcC", b"hvcC", b"vpcC", b"av1C")


@dataclass(frozen=True)
class SampleEntryInfo:
    """What a sample entry says about its codec and format."""

    codec: str
    codec_string: str
    codec_private: bytes = b""
    width: int = 0
    height: int = 0
    sample_rate_hz: int = 0
    channels: int = 0


def describe_sample_entry(entry: bytes) -> SampleEntryInfo:
    """Describe one whole sample entry box (header included) from an 'stsd'."""
    header = read_box_header(entry, 0, len(entry))
    if header is None or header.end > len(entry):
        raise MediaError("truncated sample entry")
    payload = memoryview(entry)[header.payload_offset : header.end]
    if header.fourcc in (b"avc1", b"avc3", b"hvc1", b"hev1", b"vp09", b"av01", b"encv"):
        return _describe_visual(header, payload)
    if header.fourcc in (b"mp4a", b"enca", b"ac-3", b"ec-3", b"Opus", b"fLaC"):
        return _describe_audio(header, payload)
    codec = header.name
    return SampleEntryInfo(codec, _PLAIN_CODEC_STRINGS.get(codec, codec))


def _children(payload: memoryview, start: int) -> dict[bytes, memoryview]:
    """The child boxes of a sample entry by fourcc (payloads), tolerating trailing junk."""
    found: dict[bytes, memoryview] = {}
    offset = start
    while True:
        child = read_box_header(payload, offset, len(payload))
        if child is None or child.end > len(payload):
            return found
        found.setdefault(child.fourcc, payload[child.payload_offset : child.end])
        offset = child.end


def _original_format(header: BoxHeader, children: dict[bytes, memoryview]) -> str:
    """The sample entry's codec fourcc, looking through 'sinf'/'frma' when encrypted."""
    sinf = children.get(b"sinf")
    if header.fourcc in (b"encv", b"enca") and sinf is not None:
        for box in iter_boxes(sinf, 0, len(sinf)):
            if box.fourcc == b"frma" and box.size_bytes >= 12:
                return bytes(sinf[box.payload_offset : box.payload_offset + 4]).decode("latin-1")
    return header.name


def _describe_visual(header: BoxHeader, payload: memoryview) -> SampleEntryInfo:
    if len(payload) < _VISUAL_CHILDREN_AT:
        raise MediaError(f"truncated '{header.name}' sample entry")
    width, height = struct.unpack_from(">HH", payload, 24)
    children = _children(payload, _VISUAL_CHILDREN_AT)
    codec = _original_format(header, children)
    config_type = next((c for c in _VIDEO_CONFIGS if c in children), None)
    config = bytes(children[config_type]) if config_type else b""
    codec_string = video_codec_string(codec, config_type, config)
    return SampleEntryInfo(codec, codec_string, config, width=width, height=height)


def _describe_audio(header: BoxHeader, payload: memoryview) -> SampleEntryInfo:
    if len(payload) < _AUDIO_CHILDREN_AT:
        raise MediaError(f"truncated '{header.name}' sample entry")
    version, channels, _, rate_fixed = struct.unpack_from(">H6xHH4xI", payload, 8)
    start = _AUDIO_CHILDREN_AT + _AUDIO_EXTRA_BY_VERSION.get(version, 0)
    children = _children(payload, start)
    codec = _original_format(header, children)
    sample_rate, codec_string, private = rate_fixed >> 16, codec, b""
    esds = children.get(b"esds")
    if codec == "mp4a" and esds is not None:
        object_type, private = parse_esds(bytes(esds))
        codec_string = f"mp4a.{object_type:02x}"
        if object_type == 0x40 and private:
            aot, asc_rate, asc_channels = parse_audio_specific_config(private)
            codec_string = f"mp4a.40.{aot}"
            sample_rate = asc_rate or sample_rate
            channels = asc_channels or channels
    codec_string = _PLAIN_CODEC_STRINGS.get(codec_string, codec_string)
    return SampleEntryInfo(
        codec, codec_string, private, sample_rate_hz=sample_rate, channels=channels
    )


def video_codec_string(codec: str, config_type: bytes | None, config: bytes) -> str:
    """The RFC 6381 string of a video sample entry from its configuration record."""
    try:
        if config_type == b"avcC":
            return f"{codec}.{config[1]:02X}{config[2]:02X}{config[3]:02X}"
        if config_type == b"hvcC":
            return hevc_codec_string(codec, config)
        if config_type == b"vpcC":  # a FullBox: version/flags first
            bit_depth = config[6] >> 4
            return f"{codec}.{config[4]:02d}.{config[5]:02d}.{bit_depth:02d}"
        if config_type == b"av1C":
            profile, level, tier = config[1] >> 5, config[1] & 0x1F, config[2] >> 7
            bit_depth = 12 if config[2] & 0x20 else 10 if config[2] & 0x40 else 8
            return f"{codec}.{profile}.{level:02d}{'H' if tier else 'M'}.{bit_depth:02d}"
    except IndexError as exc:
        raise MediaError(f"truncated '{config_type!r}' configuration in '{codec}'") from exc
    return codec


def hevc_codec_string(codec: str, hvcc: bytes) -> str:
    """``hvc1.{space}{profile}.{compat}.{tier}{level}.{constraints}`` (ISO 14496-15 E.3)."""
    if len(hvcc) < 13:
        raise MediaError("truncated 'hvcC' configuration")
    profile_space, tier, profile_idc = hvcc[1] >> 6, (hvcc[1] >> 5) & 1, hvcc[1] & 0x1F
    compat = int(f"{int.from_bytes(hvcc[2:6], 'big'):032b}"[::-1], 2)  # bits reversed
    constraints = hvcc[6:12].rstrip(b"\0")
    parts = [
        codec,
        ("", "A", "B", "C")[profile_space] + str(profile_idc),
        f"{compat:X}",
        ("H" if tier else "L") + str(hvcc[12]),
    ]
    parts.extend(f"{byte:X}" for byte in constraints)
    return ".".join(parts)


def _read_descriptor(data: bytes, pos: int) -> tuple[int, int, int]:
    """Decode an MPEG-4 descriptor header at ``pos``: (tag, payload start, payload end)."""
    tag, pos, size = data[pos], pos + 1, 0
    for _ in range(4):
        byte = data[pos]
        pos += 1
        size = (size << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return tag, pos, pos + size


def parse_esds(esds: bytes) -> tuple[int, bytes]:
    """From an 'esds' payload, the objectTypeIndication and the DecoderSpecificInfo bytes."""
    try:
        tag, pos, end = _read_descriptor(esds, 4)  # after version and flags
        if tag != 0x03:
            raise MediaError("'esds' does not start with an ES_Descriptor")
        flags = esds[pos + 2]
        pos += 3 + (2 if flags & 0x80 else 0)
        pos += (1 + esds[pos]) if flags & 0x40 else 0
        pos += 2 if flags & 0x20 else 0
        tag, pos, config_end = _read_descriptor(esds, pos)
        if tag != 0x04:
            raise MediaError("'esds' has no DecoderConfigDescriptor")
        object_type = esds[pos]
        pos += 13
        while pos < config_end:
            tag, start, stop = _read_descriptor(esds, pos)
            if tag == 0x05:
                return object_type, esds[start:stop]
            pos = stop
        return object_type, b""
    except IndexError as exc:
        raise MediaError("truncated 'esds' box") from exc


class _BitReader:
    """Big-endian bit reader for the AudioSpecificConfig."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def read(self, bits: int) -> int:
        if bits > self._left:
            raise MediaError("truncated AudioSpecificConfig")
        self._left -= bits
        return (self._value >> self._left) & ((1 << bits) - 1)


def parse_audio_specific_config(asc: bytes) -> tuple[int, int, int]:
    """(audio object type, output sample rate in Hz, channels) of an AAC AudioSpecificConfig.

    Channels is 0 when the config defers to a program config element.
    """
    reader = _BitReader(asc)

    def object_type() -> int:
        aot = reader.read(5)
        return 32 + reader.read(6) if aot == 31 else aot

    def sample_rate() -> int:
        index = reader.read(4)
        if index == 15:
            return reader.read(24)
        if index >= len(_AAC_RATES):
            raise MediaError(f"invalid AAC sampling frequency index {index}")
        return _AAC_RATES[index]

    aot = object_type()
    rate = sample_rate()
    channels = _AAC_CHANNELS.get(reader.read(4), 0)
    if aot in (5, 29):  # explicit SBR/PS: the extension rate is the output rate
        rate = sample_rate()
    return aot, rate, channels
