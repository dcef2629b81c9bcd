"""Content protection of media, bytes in and bytes out.

- :mod:`.protection`: what protects a track (scheme, KID, key, IVs).
- :mod:`.subsamples` and :mod:`.avc_slice`: which bytes of a video sample stay clear.
- :mod:`.sample_cipher`: 'cenc' (AES-CTR) and 'cbcs' (AES-CBC, 1:9 pattern) sample encryption.
- :mod:`.cenc`: protected init segments and encrypted fragments.
- :mod:`.piff`: encrypted Smooth Streaming fragments (PIFF 1.1 sample encryption).
- :mod:`.pssh`: PSSH boxes for W3C Common, Widevine and PlayReady.
- :mod:`.hls_aes`: HLS AES-128 whole-segment encryption.
- :mod:`.ts_sample_aes`: HLS SAMPLE-AES for MPEG-TS (H.264 slices, AAC frames).

The boxes themselves are in :mod:`openvod.media.mp4.protection_boxes`.
"""

from __future__ import annotations

from openvod.media.crypto.cenc import (
    build_protected_init_segment,
    encrypt_fragment,
    protect_sample_entry,
)
from openvod.media.crypto.hls_aes import encrypt_media_segment, encrypt_segment
from openvod.media.crypto.protection import (
    SequentialIvs,
    TrackProtection,
    cbcs_protection,
    cenc_protection,
)
from openvod.media.crypto.sample_cipher import encrypt_sample

__all__ = [
    "SequentialIvs",
    "TrackProtection",
    "build_protected_init_segment",
    "cbcs_protection",
    "cenc_protection",
    "encrypt_fragment",
    "encrypt_media_segment",
    "encrypt_sample",
    "encrypt_segment",
    "protect_sample_entry",
]
