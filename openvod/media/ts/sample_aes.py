"""How a SAMPLE-AES transport stream announces its encrypted streams in the PMT.

Apple's "MPEG-2 Stream Encryption Format for HTTP Live Streaming" gives
encrypted elementary streams their own stream types (H.264 0xdb, AAC 0xcf,
AC-3 0xc1) and a ``private_data_indicator_descriptor`` ('zavc', 'aacd',
'ac3d'); audio streams also carry a ``registration_descriptor`` whose format
identifier is 'apad', followed by the *audio setup information* a decoder
needs before the first frame: the audio type ('zaac' AAC-LC, 'zach' HE-AAC,
'zacp' HE-AACv2, 'zac3' AC-3), the priming samples (0: unknown), a version
(1) and the setup data (for AAC the AudioSpecificConfig).

Only H.264 and AAC are muxed into TS here; other codecs are refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from openvod.errors import MediaError
from openvod.media import adts

STREAM_TYPE_SAMPLE_AES_H264 = 0xDB
STREAM_TYPE_SAMPLE_AES_AAC = 0xCF
STREAM_TYPE_SAMPLE_AES_AC3 = 0xC1
_PRIVATE_DATA_INDICATOR_TAG = 0x0F
_REGISTRATION_TAG = 0x05
_AUDIO_SETUP_VERSION = 1
# AudioSpecificConfig object type -> SAMPLE-AES audio type
_AAC_AUDIO_TYPES = {2: b"zaac", 5: b"zach", 29: b"zacp"}


@dataclass(frozen=True)
class SampleAesSignal:
    """The PMT entry of one encrypted stream: its stream type and ES descriptors."""

    stream_type: int
    descriptors: bytes


def _descriptor(tag: int, body: bytes) -> bytes:
    if len(body) > 255:
        raise MediaError("an MPEG-TS descriptor holds at most 255 bytes")
    return bytes((tag, len(body))) + body


def audio_setup_information(audio_type: bytes, setup_data: bytes) -> bytes:
    """The 'apad' payload: audio type, priming (0), version (1), setup data with its length."""
    if len(setup_data) > 255:
        raise MediaError("SAMPLE-AES audio setup data holds at most 255 bytes")
    head = struct.pack(">4sHBB", audio_type, 0, _AUDIO_SETUP_VERSION, len(setup_data))
    return head + setup_data


def sample_aes_signal(kind: str, codec: str, codec_private: bytes) -> SampleAesSignal:
    """The PMT entry of a SAMPLE-AES stream of ``codec`` (a sample entry fourcc).

    Raises :class:`~openvod.errors.MediaError` for codecs SAMPLE-AES TS does not
    carry here (HEVC has no SAMPLE-AES TS format; AC-3 is not muxed into TS).
    """
    if kind == "video" and codec in ("avc1", "avc3"):
        indicator = _descriptor(_PRIVATE_DATA_INDICATOR_TAG, b"zavc")
        return SampleAesSignal(STREAM_TYPE_SAMPLE_AES_H264, indicator)
    if kind == "audio" and codec == "mp4a":
        config = adts.parse_audio_specific_config(codec_private)
        audio_type = _AAC_AUDIO_TYPES.get(config.audio_object_type)
        if audio_type is None:
            raise MediaError(
                f"SAMPLE-AES MPEG-TS carries AAC LC, HE-AAC and HE-AACv2, "
                f"not AAC object type {config.audio_object_type}"
            )
        setup = audio_setup_information(audio_type, codec_private)
        descriptors = _descriptor(_PRIVATE_DATA_INDICATOR_TAG, b"aacd") + _descriptor(
            _REGISTRATION_TAG, b"apad" + setup
        )
        return SampleAesSignal(STREAM_TYPE_SAMPLE_AES_AAC, descriptors)
    raise MediaError(
        f"SAMPLE-AES MPEG-TS carries H.264 video and AAC audio here, not {kind} {codec!r} "
        "(use format=m3u8-cmaf for HLS SAMPLE-AES in fMP4)"
    )
