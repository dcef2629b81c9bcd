"""AAC AudioSpecificConfig parsing and ADTS framing.

MP4 keeps raw AAC frames and describes them once, in the AudioSpecificConfig
(ISO/IEC 14496-3 §1.6.2.1) of the ``esds`` box. MPEG-TS (stream type 0x0F)
needs every frame to carry its own 7-byte ADTS header (ISO/IEC 13818-7 §6.2)
instead. HE-AAC (SBR, PS) travels in ADTS as AAC LC at the core sample rate;
decoders find the SBR/PS extensions in the bitstream (implicit signalling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openvod.errors import MediaError

SAMPLING_FREQUENCIES_HZ = (
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
)  # fmt: skip
ADTS_HEADER_SIZE = 7
MAX_ADTS_FRAME_SIZE = (1 << 13) - 1  # frame_length is a 13-bit field, header included
SAMPLES_PER_FRAME = 1024

_AOT_SBR = 5
_AOT_PS = 29
_BUFFER_FULLNESS_VBR = 0x7FF
_WORD = np.dtype(">u4")


class _BitReader:
    """Most-significant-bit-first reader over a short byte string."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._bits_left = len(data) * 8

    def read(self, count: int) -> int:
        if count > self._bits_left:
            raise MediaError("truncated AudioSpecificConfig")
        self._bits_left -= count
        return (self._value >> self._bits_left) & ((1 << count) - 1)


def _read_object_type(reader: _BitReader) -> int:
    object_type = reader.read(5)
    return 32 + reader.read(6) if object_type == 31 else object_type


def _read_frequency_index(reader: _BitReader) -> int:
    index = reader.read(4)
    if index != 0xF:
        return index
    frequency_hz = reader.read(24)
    if frequency_hz not in SAMPLING_FREQUENCIES_HZ:
        raise MediaError(f"AAC sample rate {frequency_hz} Hz cannot be signalled in ADTS")
    return SAMPLING_FREQUENCIES_HZ.index(frequency_hz)


@dataclass(frozen=True)
class AacConfig:
    """What ADTS needs from an AudioSpecificConfig.

    ``audio_object_type`` is the type as signalled (2 = AAC LC, 5 = SBR, 29 =
    PS); ``core_object_type`` and ``sampling_frequency_index`` describe the
    core AAC layer, which is what ADTS headers carry.
    """

    audio_object_type: int
    core_object_type: int
    sampling_frequency_index: int
    channel_configuration: int

    @property
    def sample_rate_hz(self) -> int:
        """The core sampling rate (half the output rate for HE-AAC)."""
        return SAMPLING_FREQUENCIES_HZ[self.sampling_frequency_index]

    @property
    def adts_profile(self) -> int:
        """The 2-bit ADTS profile field: the MPEG-4 object type minus one."""
        return self.core_object_type - 1


def parse_audio_specific_config(asc: bytes) -> AacConfig:
    """Parse an AudioSpecificConfig and check ADTS can carry the stream."""
    reader = _BitReader(asc)
    object_type = _read_object_type(reader)
    frequency_index = _read_frequency_index(reader)
    if frequency_index >= len(SAMPLING_FREQUENCIES_HZ):
        raise MediaError(f"reserved AAC sampling frequency index {frequency_index}")
    channels = reader.read(4)
    core_type = object_type
    if object_type in (_AOT_SBR, _AOT_PS):  # explicit hierarchical signalling
        _read_frequency_index(reader)  # the SBR output rate; ADTS carries the core rate
        core_type = _read_object_type(reader)
    if not 1 <= core_type <= 4:
        raise MediaError(f"AAC object type {core_type} cannot be carried in ADTS")
    if channels == 0 or channels > 7:
        raise MediaError(f"AAC channel configuration {channels} is not supported in ADTS")
    return AacConfig(object_type, core_type, frequency_index, channels)


def _header_words(
    config: AacConfig, payload_sizes: npt.NDArray[np.integer]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """ADTS headers (no CRC) as two big-endian 32-bit words each: bytes 0-3 and bytes 3-6."""
    frame_lengths = payload_sizes.astype(np.int64) + ADTS_HEADER_SIZE
    if frame_lengths.size and int(frame_lengths.max()) > MAX_ADTS_FRAME_SIZE:
        raise MediaError("AAC frame too large for ADTS")
    channels = config.channel_configuration
    fixed = (
        0xFFF1 << 16  # syncword, MPEG-4, layer 0, protection_absent
        | config.adts_profile << 14
        | config.sampling_frequency_index << 10
        | (channels >> 2) << 8
        | (channels & 0x3) << 6
    )
    first = frame_lengths >> 11
    first |= fixed
    last = frame_lengths << 13  # frame_length, then buffer fullness and 1 raw data block
    last |= (channels & 0x3) << 30 | _BUFFER_FULLNESS_VBR << 2
    return first, last


def adts_headers(
    config: AacConfig, payload_sizes: npt.NDArray[np.integer]
) -> npt.NDArray[np.uint8]:
    """ADTS headers (no CRC) for raw frames of the given sizes: an (n, 7) uint8 array."""
    first, last = _header_words(config, payload_sizes)
    headers = np.empty((first.size, ADTS_HEADER_SIZE), dtype=np.uint8)
    headers[:, :4] = first.astype(">u4").view(np.uint8).reshape(-1, 4)
    headers[:, 3:] = last.astype(">u4").view(np.uint8).reshape(-1, 4)
    return headers


def adts_header(config: AacConfig, payload_size: int) -> bytes:
    """The 7-byte ADTS header of one raw AAC frame of ``payload_size`` bytes."""
    return adts_headers(config, np.array([payload_size])).tobytes()


def write_adts_headers(
    dest: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    config: AacConfig,
    payload_sizes: npt.NDArray[np.int64],
) -> None:
    """Write the 7-byte ADTS headers of raw frames of ``payload_sizes`` at ``offsets``
    (two array assignments of overlapping 32-bit words); the frames go after them."""
    first, last = _header_words(config, payload_sizes)
    # Item i of ``words`` is the big-endian word at dest[i:i + 4] (unaligned).
    words = np.ndarray((max(dest.size - 3, 0),), dtype=_WORD, buffer=dest, strides=(1,))
    words[offsets] = first
    words[offsets + 3] = last


def write_adts_frames(
    dest: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    config: AacConfig,
    data: bytes | memoryview,
    payload_sizes: npt.NDArray[np.int64],
) -> None:
    """Write the raw AAC frames of ``data`` (back to back) as ADTS frames at ``offsets``.

    Frame ``i`` takes ``dest[offsets[i]:offsets[i] + 7 + payload_sizes[i]]``:
    the headers are written as two overlapping 32-bit words each, all in two
    array assignments, each payload with one slice copy. ``payload_sizes``
    must add up to the size of ``data``.
    """
    write_adts_headers(dest, offsets, config, payload_sizes)
    src, out = memoryview(data), dest.data
    start = 0
    payload_at = offsets + ADTS_HEADER_SIZE
    for at, size in zip(payload_at.tolist(), payload_sizes.tolist(), strict=True):
        out[at : at + size] = src[start : start + size]
        start += size


def add_adts_headers(
    config: AacConfig, data: bytes | memoryview, payload_sizes: npt.NDArray[np.integer]
) -> npt.NDArray[np.uint8]:
    """Turn raw AAC frames stored back to back into an ADTS stream."""
    sizes = payload_sizes.astype(np.int64)
    if int(sizes.sum()) != len(memoryview(data)):
        raise MediaError("audio sample sizes do not add up to the data given")
    frame_ends = np.cumsum(sizes + ADTS_HEADER_SIZE)
    out = np.empty(int(frame_ends[-1]) if frame_ends.size else 0, dtype=np.uint8)
    write_adts_frames(out, frame_ends - ADTS_HEADER_SIZE - sizes, config, data, sizes)
    return out
