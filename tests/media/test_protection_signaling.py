"""Key tags, ContentProtection elements and the choice of scheme, as pure functions."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest

from openvod.errors import NotFoundError
from openvod.keys.content_keys import ContentKey
from openvod.media.protection_signaling import (
    CLEARKEY_SCHEME,
    DashProtection,
    add_content_protection,
    aes128_key_tag,
    carry_query,
    sample_aes_key_tags,
)
from openvod.origin.delivery import SchemeDelivery, UnsupportedEncryptionError, choose_delivery

KID = uuid.UUID("0123456789abcdef0123456789abcdef")
MPD = """<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
    </AdaptationSet>
    <AdaptationSet id="1" contentType="text" mimeType="text/vtt">
    </AdaptationSet>
  </Period>
</MPD>
"""
NS = {"d": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013",
      "dashif": "https://dashif.org/CPS"}  # fmt: skip


def test_hls_key_tags() -> None:
    assert aes128_key_tag("k") == '#EXT-X-KEY:METHOD=AES-128,URI="k"'
    assert aes128_key_tag("k", bytes(range(16))).endswith(
        ",IV=0x000102030405060708090A0B0C0D0E0F"
    )
    identity, fairplay = sample_aes_key_tags("k", "skd://x")
    assert identity == '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="k",KEYFORMAT="identity"'
    assert 'KEYFORMAT="com.apple.streamingkeydelivery"' in fairplay


def test_carry_query_reaches_every_playlist_uri() -> None:
    master = '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI="a"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv\nw?x=1\n'
    assert carry_query(master, "token=t") == (
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI="a?token=t"\n#EXT-X-STREAM-INF:BANDWIDTH=1\n'
        "v?token=t\nw?x=1&token=t\n"
    )


def test_content_protection_only_in_media_sets() -> None:
    protection = DashProtection("cenc", KID.bytes, clearkey_url="https://k/c?token=a&b",
                                widevine_pssh=b"wv", playready_pssh=b"pr")  # fmt: skip
    root = ET.fromstring(add_content_protection(MPD, protection).encode())
    video, text = root.iterfind(".//d:AdaptationSet", NS)
    assert text.find("d:ContentProtection", NS) is None
    elements = video.findall("d:ContentProtection", NS)
    assert [e.get("schemeIdUri") for e in elements][:2] == [
        "urn:mpeg:dash:mp4protection:2011", CLEARKEY_SCHEME]
    assert elements[0].get(f"{{{NS['cenc']}}}default_KID") == str(KID)
    assert elements[1].findtext("dashif:Laurl", namespaces=NS) == "https://k/c?token=a&b"
    assert len(elements) == 4


def _delivery(scheme: str, *protocols: str) -> SchemeDelivery:
    key = ContentKey(uuid.uuid4(), bytes(16), scheme, None, None)
    return SchemeDelivery(scheme, frozenset(protocols), key)  # type: ignore[arg-type]


def test_choice_of_scheme() -> None:
    envelope = _delivery("envelope", "hls", "dash")
    cenc = _delivery("cenc", "dash", "smoothStreaming")
    cbcs = _delivery("cbcs", "hls", "dash")
    both = (envelope, cenc, cbcs)
    assert choose_delivery(both, frozenset(), "hls", "m3u8-aapl", None) is envelope
    assert choose_delivery(both, frozenset(), "hls", "m3u8-cmaf", "cbcs-aapl") is cbcs
    assert choose_delivery(both, frozenset(), "dash", "mpd-time-csf", None) is cenc
    assert choose_delivery((cbcs,), frozenset(), "hls", "m3u8-cmaf", None) is cbcs
    assert choose_delivery(both, frozenset({"hls"}), "hls", "m3u8-aapl", None) is None
    assert choose_delivery((cbcs,), frozenset(), "hls", "m3u8-aapl", None) is cbcs  # SAMPLE-AES TS
    assert choose_delivery(both, frozenset(), "hls", "m3u8-aapl", "cbcs-aapl") is cbcs
    assert choose_delivery(both, frozenset(), "smoothStreaming", "smooth", None) is cenc
    assert choose_delivery(both, frozenset(), "smoothStreaming", "smooth", "piff") is cenc
    smooth_envelope = _delivery("envelope", "smoothStreaming")
    with pytest.raises(UnsupportedEncryptionError, match="Smooth Streaming is served clear"):
        choose_delivery((smooth_envelope,), frozenset(), "smoothStreaming", "smooth", None)
    with pytest.raises(UnsupportedEncryptionError, match="encryption=cbc"):
        choose_delivery((smooth_envelope, cenc), frozenset(), "smoothStreaming", "smooth", "cbc")
    with pytest.raises(NotFoundError):
        choose_delivery(both, frozenset(), "hls", "m3u8-cmaf", "cenc")
    with pytest.raises(NotFoundError):
        choose_delivery((), frozenset({"dash"}), "dash", "mpd-time-csf", "cenc")
