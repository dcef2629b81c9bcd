"""Smooth Streaming under CENC 'cenc': PlayReady-style protection, as AMS served it.

What AMS called ``encryption=piff`` (and Smooth under ``commonEncryptionCenc``):

- the client manifest gains a ``<Protection>`` element whose PlayReady
  ``ProtectionHeader`` is a PlayReady Object (WRM header 4.0.0.0: the KID in
  PlayReady's byte order, its checksum, and ``LA_URL`` when the policy has a
  PlayReady license URL template). It is written whatever DRM systems the
  policy names: it is the only place a Smooth client learns the KID (dash.js
  derives its ClearKey and Widevine requests from it too);
- fragments are the clear Smooth fragments with their samples encrypted
  AES-CTR exactly as for DASH 'cenc' (same IVs and subsample maps, from
  :func:`~openvod.origin.encryption.track_protection`), signalled by the
  PIFF 1.1 SampleEncryptionBox plus 'saiz'/'saio'
  (see :mod:`openvod.media.crypto.piff`).

Smooth has no init segment: clients build it from the manifest. Everything
here is a pure function of (asset version, URL, key), cached like the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from openvod.errors import NotFoundError
from openvod.media.crypto.piff import encrypt_piff_fragment
from openvod.media.crypto.protection import TrackProtection
from openvod.media.crypto.pssh import (
    PLAYREADY_SYSTEM_ID,
    playready_header_xml,
    playready_object,
)
from openvod.media.presentation import Rendition, find_rendition
from openvod.media.protection_signaling import add_smooth_protection
from openvod.media.smooth import (
    build_smooth_manifest,
    find_smooth_segment,
    plan_smooth_fragment,
    smooth_segment_track,
)
from openvod.media.urls import FragmentRequest, ManifestRequest
from openvod.origin.assets import LoadedAsset
from openvod.origin.bodies import BytesBody
from openvod.origin.delivery import SchemeDelivery
from openvod.origin.segments import Body, read_samples
from openvod.origin.subsample_maps import fragment_maps

_VIDEO_MP4 = b"video/mp4"
_AUDIO_MP4 = b"audio/mp4"


def smooth_protection_header(delivery: SchemeDelivery) -> bytes:
    """The PlayReady Object of the manifest's ProtectionHeader (one KID, 'cenc')."""
    xml = playready_header_xml(
        [delivery.key.id.bytes],
        scheme="cenc",
        license_url=delivery.url_from_template("playReady") or "",
        content_key=delivery.key.value,
    )
    return playready_object(xml)


def encrypted_smooth_manifest(
    asset: LoadedAsset, request: ManifestRequest, delivery: SchemeDelivery
) -> bytes:
    """The Smooth client manifest with its ``<Protection>`` element."""
    text = build_smooth_manifest(asset.presentation, request.options)
    system_id = uuid.UUID(bytes=PLAYREADY_SYSTEM_ID)
    return add_smooth_protection(text, system_id, smooth_protection_header(delivery)).encode()


def _rendition(asset: LoadedAsset, request: FragmentRequest) -> Rendition:
    rendition = find_rendition(asset.presentation, request.bitrate, request.track)
    if rendition is None:
        raise NotFoundError("No such rendition.")
    return rendition


def encrypted_smooth_fragment_body(
    asset: LoadedAsset,
    request: FragmentRequest,
    protection_of: Callable[[Rendition], TrackProtection],
) -> Body:
    """The encrypted Smooth fragment a ``Fragments(...)`` URL names.

    ``protection_of`` gives a rendition's protection: the DASH 'cenc' one, so
    both protocols share one IV rule.
    """
    if not isinstance(request.time, int) or request.keyframes:
        raise NotFoundError("Smooth Streaming has no such fragment.")
    rendition = _rendition(asset, request)
    presentation = asset.presentation
    index = find_smooth_segment(presentation, rendition, request.time)
    if index is None:
        raise NotFoundError("No fragment starts at that time.")
    first, end = rendition.segment_samples(index)
    plan = plan_smooth_fragment(presentation, rendition, index)
    data = read_samples(asset, rendition, first, end)
    protection = protection_of(rendition)
    maps = fragment_maps(asset, rendition, protection, first, end, data)  # shared with DASH
    fragment = encrypt_piff_fragment(
        plan, data, smooth_segment_track(rendition, index), protection, first, maps=maps,
    )  # fmt: skip
    content_type = _VIDEO_MP4 if rendition.kind == "video" else _AUDIO_MP4
    return Body(BytesBody(fragment), content_type)
