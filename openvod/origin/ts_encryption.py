"""HLS SAMPLE-AES over MPEG-TS: a locator's 'cbcs' key served on ``m3u8-aapl`` TS segments.

The samples of a segment are read as for the clear segment, their slices and
AAC frames encrypted (:mod:`openvod.media.crypto.ts_sample_aes`), then muxed
with the SAMPLE-AES stream types and descriptors in the PMT. The IV is the
'cbcs' constant IV of the playlist's rendition (the one its fMP4 segments
carry in 'tenc'), stated in the media playlist's ``#EXT-X-KEY``; a muxed
``m3u8-aapl-v3`` segment encrypts its audio with the video's key and IV,
since one key tag covers the whole segment. Clear TS plans are not used: encrypted
slices change size, and the response cache keeps encrypted segments.
"""

from __future__ import annotations

from openvod.media.avc import parse_avcc
from openvod.media.crypto.protection import derive_constant_iv
from openvod.media.crypto.ts_sample_aes import encrypt_aac_samples, encrypt_avc_samples
from openvod.media.presentation import Rendition, audio_segment_for
from openvod.media.ts import TsTrackInput, mux_ts_packets
from openvod.media.ts.sample_aes import sample_aes_signal
from openvod.media.urls import FragmentRequest
from openvod.origin.assets import LoadedAsset
from openvod.origin.bodies import BytesBody
from openvod.origin.segments import VIDEO_MP2T, Body, read_samples


def sample_aes_iv(key: bytes, rendition: Rendition) -> bytes:
    """The IV of a rendition's SAMPLE-AES TS segments: its 'cbcs' constant IV."""
    return derive_constant_iv(key, rendition.track.track_id)


def _encrypted_input(
    asset: LoadedAsset, rendition: Rendition, first: int, end: int, key: bytes, iv: bytes
) -> TsTrackInput:
    """The samples ``[first, end)`` of a rendition, read and SAMPLE-AES encrypted."""
    track = rendition.track
    sample_aes_signal(track.kind, track.codec, track.codec_private)  # H.264 or AAC, else refused
    data = read_samples(asset, rendition, first, end)
    sizes = track.samples.size[first:end]
    if track.kind == "video":
        length_size = parse_avcc(track.codec_private).nal_length_size
        encrypted, new_sizes = encrypt_avc_samples(data, sizes, length_size, key, iv)
        return TsTrackInput(track, first, end, encrypted, sample_sizes=new_sizes)
    return TsTrackInput(track, first, end, encrypt_aac_samples(data, sizes, key, iv))


def sample_aes_ts_body(
    asset: LoadedAsset,
    request: FragmentRequest,
    rendition: Rendition,
    span: tuple[int, int, int],
    key: bytes,
) -> Body:
    """The SAMPLE-AES TS segment of samples ``span`` = (first, end, segment index) of
    ``rendition`` (with the default audio's for ``m3u8-aapl-v3`` video segments)."""
    first, end, index = span
    parts = [(rendition, first, end)]
    if request.format == "m3u8-aapl-v3" and rendition.kind == "video" and not request.keyframes:
        found = audio_segment_for(asset.presentation, rendition, index)
        if found is not None:
            audio, audio_index = found
            parts.append((audio, *audio.segment_samples(audio_index)))
    iv = sample_aes_iv(key, rendition)
    inputs = [_encrypted_input(asset, r, start, stop, key, iv) for r, start, stop in parts]
    packets = mux_ts_packets(inputs, segment_index=index, sample_aes=True)
    return Body(BytesBody(packets.data), VIDEO_MP2T)
