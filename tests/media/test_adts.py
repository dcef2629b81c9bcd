"""AudioSpecificConfig parsing and ADTS headers, checked against ffmpeg's ADTS muxer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvod.encoding.tools import ffmpeg
from openvod.errors import MediaError
from openvod.media.adts import (
    AacConfig,
    add_adts_headers,
    adts_header,
    parse_audio_specific_config,
)

LC_48K_STEREO = parse_audio_specific_config(b"\x11\x90")


def _fields(header: bytes) -> dict[str, int]:
    """ADTS header fields, read bit by bit (ISO/IEC 13818-7 table 6.2)."""
    bits = "".join(f"{b:08b}" for b in header)
    layout = [
        ("syncword", 12), ("id", 1), ("layer", 2), ("protection_absent", 1), ("profile", 2),
        ("sampling_frequency_index", 4), ("private_bit", 1), ("channel_configuration", 3),
        ("original_copy", 1), ("home", 1), ("copyright_id_bit", 1), ("copyright_id_start", 1),
        ("frame_length", 13), ("buffer_fullness", 11), ("raw_data_blocks", 2),
    ]  # fmt: skip
    fields, pos = {}, 0
    for name, width in layout:
        fields[name] = int(bits[pos : pos + width], 2)
        pos += width
    assert pos == len(bits) == 56
    return fields


@pytest.mark.parametrize(
    ("asc", "expected", "rate"),
    [
        ("1190", AacConfig(2, 2, 3, 2), 48000),
        ("1210", AacConfig(2, 2, 4, 2), 44100),
        ("1388", AacConfig(2, 2, 7, 1), 22050),
        ("2b118800", AacConfig(5, 2, 6, 2), 24000),  # HE-AAC, explicit: core 24 kHz
        ("eb098800", AacConfig(29, 2, 6, 1), 24000),  # HE-AAC v2 (PS)
        ("17805dc010", AacConfig(2, 2, 3, 2), 48000),  # explicit 24-bit frequency
    ],
)
def test_parse_audio_specific_config(asc: str, expected: AacConfig, rate: int) -> None:
    config = parse_audio_specific_config(bytes.fromhex(asc))
    assert config == expected
    assert config.sample_rate_hz == rate
    assert config.adts_profile == 1


@pytest.mark.parametrize(
    "asc",
    ["", "11", "1180", "f8a0", "17805dbf90", "1690"],
    ids=["empty", "truncated", "channels 0", "USAC", "odd rate", "reserved rate index"],
)
def test_unsupported_configs_are_media_errors(asc: str) -> None:
    with pytest.raises(MediaError):
        parse_audio_specific_config(bytes.fromhex(asc))


def test_header_fields() -> None:
    fields = _fields(adts_header(LC_48K_STEREO, 100))
    assert fields == {
        "syncword": 0xFFF, "id": 0, "layer": 0, "protection_absent": 1, "profile": 1,
        "sampling_frequency_index": 3, "private_bit": 0, "channel_configuration": 2,
        "original_copy": 0, "home": 0, "copyright_id_bit": 0, "copyright_id_start": 0,
        "frame_length": 107, "buffer_fullness": 0x7FF, "raw_data_blocks": 0,
    }  # fmt: skip
    assert (
        _fields(adts_header(parse_audio_specific_config(b"\x13\x88"), 8184))["frame_length"] == 8191
    )
    with pytest.raises(MediaError):
        adts_header(LC_48K_STEREO, 8185)


@given(st.lists(st.binary(min_size=0, max_size=600), min_size=1, max_size=20))
def test_add_adts_headers_frames_every_payload(frames: list[bytes]) -> None:
    sizes = np.array([len(f) for f in frames], dtype=np.uint32)
    stream = add_adts_headers(LC_48K_STEREO, b"".join(frames), sizes).tobytes()
    for frame in frames:
        length = _fields(stream[:7])["frame_length"]
        assert length == len(frame) + 7 and stream[7:length] == frame
        stream = stream[length:]
    assert stream == b""


def test_add_adts_headers_checks_sizes() -> None:
    with pytest.raises(MediaError):
        add_adts_headers(LC_48K_STEREO, b"abc", np.array([2]))


def test_matches_ffmpeg_adts_muxer(tmp_path: Path) -> None:
    path = tmp_path / "sine.aac"
    subprocess.run(
        [str(ffmpeg()), "-v", "error", "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "1",
         "-ac", "2", "-c:a", "aac", "-b:a", "128k", "-f", "adts", str(path)],
        check=True,
    )  # fmt: skip
    reference = path.read_bytes()
    payloads, pos = [], 0
    while pos < len(reference):
        length = _fields(reference[pos : pos + 7])["frame_length"]
        payloads.append(reference[pos + 7 : pos + length])
        pos += length
    sizes = np.array([len(p) for p in payloads])
    assert add_adts_headers(LC_48K_STEREO, b"".join(payloads), sizes).tobytes() == reference
