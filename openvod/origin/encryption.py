"""Dynamic encryption: the manifests and segments of one locator's scheme, built on request.

From the same clear MP4 set as clear streaming:

- AES-128 (``envelope``): the clear TS or fMP4 segment encrypted whole with
  AES-128-CBC; its IV is the segment's media sequence number (RFC 8216
  5.2), so media playlists need one ``#EXT-X-KEY`` without IV; the fMP4 init
  segment is encrypted too, with an IV derived from the key and rendition
  that the ``#EXT-X-KEY`` before the ``#EXT-X-MAP`` states.
- ``cbcs`` on MPEG-TS: HLS SAMPLE-AES (:mod:`openvod.origin.ts_encryption`),
  the IV stated in ``#EXT-X-KEY``.
- CENC ``cenc`` / ``cbcs``: a protected init segment (``encv``/``enca``,
  ``sinf``/``tenc``, PSSH boxes of the policy's systems) and fragments whose
  samples are encrypted (``senc``, ``saiz``, ``saio``); per-sample IVs are a
  function of the key and the rendition (see :func:`track_protection`).

Each rendition uses its own key (:meth:`SchemeDelivery.key_for`: the policy's
``keyToTrackMappings``), or none (``clearTracks``): its playlist, init segment
and fragments are then the clear ones.

Keys and IVs are never logged. Everything here is a pure function of (asset
version, URL, scheme, key), so encrypted segments are cached like clear ones;
the clear path (and its zero-copy fMP4 plans) does not pass through here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

import numpy as np

from openvod.errors import InvalidRequestError, NotFoundError
from openvod.keys.content_keys import ContentKey
from openvod.keys.urls import clearkey_license_url, hls_key_url
from openvod.media.crypto import build_protected_init_segment, encrypt_fragment
from openvod.media.crypto.hls_aes import encrypt_media_segment, encrypt_segment
from openvod.media.crypto.protection import (
    SequentialIvs,
    TrackProtection,
    cbcs_protection,
    derive_iv_base,
)
from openvod.media.crypto.pssh import SchemeName, common_pssh, playready_pssh, widevine_pssh
from openvod.media.dash import build_mpd
from openvod.media.hls import build_master_playlist, build_media_playlist
from openvod.media.mp4 import FragmentPlan, plan_fragment
from openvod.media.mp4.protection_boxes import ProtectionSystemSpecificHeaderBox
from openvod.media.presentation import Rendition, find_keyframe, find_rendition, find_segment
from openvod.media.protection_signaling import (
    DashProtection,
    add_content_protection,
    add_track_content_protection,
    aes128_key_tag,
    carry_query,
    sample_aes_key_tags,
)
from openvod.media.urls import (
    INIT_TIME,
    TS_FORMATS,
    FragmentRequest,
    ManifestRequest,
    PlaylistRequest,
    is_dash_format,
    is_hls_format,
)
from openvod.origin.assets import LoadedAsset
from openvod.origin.bodies import BytesBody
from openvod.origin.delivery import SchemeDelivery, UnsupportedEncryptionError
from openvod.origin.segments import Body, build_fragment_body, read_samples
from openvod.origin.smooth_encryption import (
    encrypted_smooth_fragment_body,
    encrypted_smooth_manifest,
)
from openvod.origin.subsample_maps import fragment_maps
from openvod.origin.track_keys import per_track_tag, representation_protections
from openvod.origin.ts_encryption import sample_aes_iv, sample_aes_ts_body

MAX_TOKEN_CHARS = 8192


@dataclass(frozen=True)
class KeyLinks:
    """Where players get keys: the key delivery base URL and the token of the manifest URL."""

    public_base: str
    token: str | None = None


def token_of(query_string: bytes) -> str | None:
    """The ``token`` query parameter of a request (a manifest URL), if any."""
    if b"token=" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1")):
        if name == "token" and value:
            if len(value) > MAX_TOKEN_CHARS:
                raise InvalidRequestError("The token is too long.")
            return value
    return None


def cache_tag(delivery: SchemeDelivery) -> str:
    """What makes an encrypted response differ from the clear one of the same URL."""
    if delivery.per_track:
        return per_track_tag(delivery.scheme, delivery.keys, delivery.clear_tracks)
    return f"|{delivery.scheme}|{delivery.key.id}"


def _rendition_label(rendition: Rendition) -> str:
    return f"{rendition.kind}/{rendition.bitrate_bps}/{rendition.track_name}"


def track_protection(delivery: SchemeDelivery, rendition: Rendition) -> TrackProtection:
    """The CENC protection of one rendition.

    'cenc' IVs start from a base derived from the key and the rendition (not
    only the track id: renditions from different files share track ids and
    one key, and must not share counter blocks).
    """
    content_key = _key_of(delivery, rendition)
    key_id, key = content_key.id.bytes, content_key.value
    track_id = rendition.track.track_id
    if delivery.scheme == "cbcs":
        return cbcs_protection(key_id, key, track_id)
    base = derive_iv_base(key, track_id, f"cenc/{_rendition_label(rendition)}")
    return TrackProtection("cenc", key_id, key, iv_size=8, iv_source=SequentialIvs(base))


def init_iv(delivery: SchemeDelivery, rendition: Rendition) -> bytes:
    """The AES-128 IV of a rendition's fMP4 init segment (HMAC of the key and rendition)."""
    message = f"openvod-hls-init/{_rendition_label(rendition)}".encode()
    return hmac.new(_key_of(delivery, rendition).value, message, hashlib.sha256).digest()[:16]


def _key_of(delivery: SchemeDelivery, rendition: Rendition) -> ContentKey:
    """The rendition's key; callers serve clear tracks before asking for one."""
    key = delivery.key_for(rendition)
    if key is None:
        raise NotFoundError("The track is served clear.")
    return key


def pssh_boxes(delivery: SchemeDelivery) -> dict[str, ProtectionSystemSpecificHeaderBox]:
    """The PSSH boxes of the policy's systems by system ('common' for W3C Common, first)."""
    kids = [key.id.bytes for key in delivery.keys]  # every key of the section, default first
    scheme: SchemeName = "cbcs" if delivery.scheme == "cbcs" else "cenc"
    boxes = {"common": common_pssh(kids)}
    if "widevine" in delivery.drm:
        boxes["widevine"] = widevine_pssh(kids, scheme=scheme)
    if "playReady" in delivery.drm:
        boxes["playReady"] = playready_pssh(
            kids, scheme=scheme, license_url=delivery.url_from_template("playReady") or "",
            content_key=delivery.key.value,
        )  # fmt: skip
    return boxes


# --- segments --------------------------------------------------------------------------------


def _rendition(asset: LoadedAsset, request: FragmentRequest) -> Rendition:
    rendition = find_rendition(asset.presentation, request.bitrate, request.track)
    if rendition is None:
        raise NotFoundError("No such rendition.")
    return rendition


def _samples(rendition: Rendition, request: FragmentRequest) -> tuple[int, int, int]:
    """(first sample, end sample, media sequence number) of a segment URL."""
    assert isinstance(request.time, int)
    if request.keyframes:
        sample = find_keyframe(rendition, request.time)
        if sample is None:
            raise NotFoundError("No keyframe at that time.")
        return sample, sample + 1, int(np.searchsorted(rendition.keyframe_samples, sample))
    index = find_segment(rendition, request.time)
    if index is None:
        raise NotFoundError("No fragment starts at that time.")
    return (*rendition.segment_samples(index), index)


def _one_key_for_smooth(delivery: SchemeDelivery) -> None:
    """Smooth's ProtectionHeader names one KID for the whole presentation."""
    if delivery.per_track:
        raise UnsupportedEncryptionError(
            "Smooth Streaming carries one content key for every track: this locator's policy"
            " maps keys to tracks or leaves tracks clear, so it is served as DASH or HLS."
        )


def encrypted_fragment_body(
    asset: LoadedAsset, request: FragmentRequest, delivery: SchemeDelivery
) -> Body:
    """The encrypted init segment, fragment or TS segment a fragment URL names."""
    if request.format == "smooth":  # 'cenc' only (delivery._supported)
        _one_key_for_smooth(delivery)
        return encrypted_smooth_fragment_body(asset, request,
                                              lambda r: track_protection(delivery, r))  # fmt: skip
    rendition = _rendition(asset, request)
    key = delivery.key_for(rendition)
    if key is None:  # a clear track: the clear locator's bytes
        clear = build_fragment_body(asset, request)
        return Body(BytesBody(bytes(clear.data)), clear.content_type)
    if delivery.scheme == "envelope":
        clear = build_fragment_body(asset, request)
        if request.time == INIT_TIME:
            data = encrypt_segment(clear.data, key.value, init_iv(delivery, rendition))
        else:
            sequence = _samples(rendition, request)[2]
            data = encrypt_media_segment(clear.data, key.value, sequence)
        return Body(BytesBody(data), clear.content_type)
    if request.format in TS_FORMATS:  # 'cbcs' on TS: HLS SAMPLE-AES
        span = _samples(rendition, request)
        return sample_aes_ts_body(asset, request, rendition, span, key.value)
    protection = track_protection(delivery, rendition)
    content_type = b"video/mp4" if rendition.kind == "video" else b"audio/mp4"
    if request.time == INIT_TIME:
        init = build_protected_init_segment(
            [rendition.track], {rendition.track.track_id: protection},
            list(pssh_boxes(delivery).values()),
        )  # fmt: skip
        return Body(BytesBody(init), content_type)
    first, end, sequence = _samples(rendition, request)
    plan = fragment_plan(asset, rendition, first, end, sequence + 1)
    data = read_samples(asset, rendition, first, end)
    maps = fragment_maps(asset, rendition, protection, first, end, data)
    fragment = encrypt_fragment(plan, data, rendition.track, protection, first, maps=maps)
    return Body(BytesBody(memoryview(fragment)), content_type)


def fragment_plan(
    asset: LoadedAsset, rendition: Rendition, first: int, end: int, sequence_number: int
) -> FragmentPlan:
    """The clear fragment plan encrypted fragments start from, kept per asset version
    (a few hundred bytes each; planning costs more than encrypting a small fragment)."""
    key = ("fragment plan", rendition.source.file_name, rendition.track.track_id, first, end,
           sequence_number)  # fmt: skip
    plan = asset.memo.get(key)
    if not isinstance(plan, FragmentPlan):
        plan = plan_fragment(rendition.track, first, end, sequence_number)
        asset.memo[key] = plan
    return plan


# --- manifests -------------------------------------------------------------------------------


def key_uri(delivery: SchemeDelivery, links: KeyLinks, key: ContentKey | None = None) -> str:
    """The HLS key URI of ``key`` (the default key if None): the policy's custom template,
    else openvod's key delivery."""
    key = key or delivery.key
    custom = delivery.url_from_template("key", key)
    return custom or hls_key_url(links.public_base, key.id, links.token)


def _fairplay_uri(delivery: SchemeDelivery, key: ContentKey) -> str:
    """FairPlay's ``skd://`` URI: the template's host and path, else the KID."""
    custom = delivery.url_from_template("fairPlay", key)
    if custom is None:
        return f"skd://{key.id}"
    return "skd://" + custom.split("://", 1)[-1]


def _media_playlist(
    asset: LoadedAsset, request: PlaylistRequest, delivery: SchemeDelivery, links: KeyLinks
) -> str:
    p = asset.presentation
    rendition = find_rendition(p, request.bitrate, request.track)
    if rendition is None:
        raise NotFoundError("No such rendition.")
    key = delivery.key_for(rendition)
    if key is None:  # a clear track: the clear playlist
        return build_media_playlist(p, rendition, request.format, keyframes=request.keyframes,
                                    options=request.options)  # fmt: skip
    uri = key_uri(delivery, links, key)
    map_tags: list[str] = []
    if delivery.scheme == "envelope":
        tags = [aes128_key_tag(uri)]
        if request.format not in TS_FORMATS:  # the init section is encrypted: its IV is stated
            map_tags = [aes128_key_tag(uri, init_iv(delivery, rendition))]
    else:
        fairplay = _fairplay_uri(delivery, key) if "fairPlay" in delivery.drm else None
        iv = None  # fMP4: the IV is in 'tenc'; TS: stated here
        if request.format in TS_FORMATS:
            iv = sample_aes_iv(key.value, rendition)
        tags = sample_aes_key_tags(uri, fairplay, iv)
    return build_media_playlist(p, rendition, request.format, keyframes=request.keyframes,
                                options=request.options, key_tags=tags,
                                map_key_tags=map_tags)  # fmt: skip


def _dash_protection(
    delivery: SchemeDelivery, links: KeyLinks, key: ContentKey | None = None
) -> DashProtection:
    """The ContentProtection of a set whose default KID is ``key``'s (the default key's if
    None); its PSSH data name every key of the section."""
    key = key or delivery.key
    clearkey_url = None
    if "clearKey" in delivery.drm:
        clearkey_url = delivery.url_from_template("clearKey") or clearkey_license_url(
            links.public_base, links.token
        )
    boxes = {system: box.to_bytes() for system, box in pssh_boxes(delivery).items()}
    return DashProtection(
        scheme="cbcs" if delivery.scheme == "cbcs" else "cenc",
        key_id=key.id.bytes,
        clearkey_url=clearkey_url,
        widevine_pssh=boxes.get("widevine"),
        playready_pssh=boxes.get("playReady"),
        playready_url=delivery.url_from_template("playReady", key),
    )


def encrypted_manifest(
    asset: LoadedAsset,
    request: ManifestRequest | PlaylistRequest,
    delivery: SchemeDelivery,
    links: KeyLinks,
) -> bytes:
    """The manifest or media playlist of ``request`` announcing ``delivery``'s encryption."""
    if isinstance(request, PlaylistRequest):
        return _media_playlist(asset, request, delivery, links).encode("utf-8")
    p = asset.presentation
    fmt = request.format
    if is_dash_format(fmt):
        mpd = build_mpd(p, fmt, request.options)
        if delivery.per_track:
            by_representation = representation_protections(
                p.renditions, delivery.key_for, lambda key: _dash_protection(delivery, links, key)
            )
            return add_track_content_protection(mpd, by_representation).encode("utf-8")
        return add_content_protection(mpd, _dash_protection(delivery, links)).encode("utf-8")
    if fmt == "smooth":
        _one_key_for_smooth(delivery)
        return encrypted_smooth_manifest(asset, request, delivery)
    if not is_hls_format(fmt):
        raise NotFoundError("No such encrypted manifest.")
    text = build_master_playlist(p, fmt, request.options)
    if links.token:
        text = carry_query(text, "token=" + quote(links.token, safe=""))
    return text.encode("utf-8")
