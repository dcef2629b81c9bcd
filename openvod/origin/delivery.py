"""How a locator's streams are encrypted: its policy's encrypting sections with their keys.

A streaming policy has up to three encrypting sections (``envelopeEncryption``,
``commonEncryptionCenc``, ``commonEncryptionCbcs``), each enabling protocols,
naming DRM systems and URL templates; the locator holds one content key per
section. :func:`deliveries_of` joins them into :class:`SchemeDelivery` values
the origin keeps in its publication cache, and :func:`choose_delivery` picks the
one a request is served with (or None: clear), following the AMS
``encryption=`` modifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from openvod.errors import InvalidRequestError, NotFoundError
from openvod.keys.content_keys import ContentKey
from openvod.media.presentation import Rendition
from openvod.media.urls import DASH_FORMATS, Encryption, ManifestFormat
from openvod.origin.track_keys import (
    KeyMapping,
    Selection,
    rendition_key,
    section_keys,
    selections_of,
)
from openvod.resources.streaming_policies import (
    CommonEncryptionCbcs,
    CommonEncryptionCenc,
    EncryptedScheme,
    EnvelopeEncryption,
    StreamingPolicyProperties,
)

SchemeName = Literal["envelope", "cenc", "cbcs"]
_SECTION_SCHEME: dict[str, SchemeName] = {
    "envelopeEncryption": "envelope",
    "commonEncryptionCenc": "cenc",
    "commonEncryptionCbcs": "cbcs",
}
_KEY_TYPE: dict[SchemeName, str] = {
    "envelope": "EnvelopeEncryption",
    "cenc": "CommonEncryptionCenc",
    "cbcs": "CommonEncryptionCbcs",
}
# The AMS encryption= modifier -> scheme ('piff' is PlayReady on Smooth: 'cenc' keys).
MODIFIER_SCHEME: dict[Encryption, SchemeName] = {
    "cbc": "envelope",
    "cenc": "cenc",
    "piff": "cenc",
    "cbcs": "cbcs",
    "cbcs-aapl": "cbcs",
}


class UnsupportedEncryptionError(InvalidRequestError):
    """A format that cannot carry the scheme asked for (e.g. HLS MPEG-TS with 'cenc')."""


@dataclass(frozen=True)
class SchemeDelivery:
    """One encrypting section of a locator's policy, with the locator's keys for it.

    ``key`` is the default key; ``mappings`` give other keys to the tracks they
    select and ``clear_tracks`` selects tracks served clear (:meth:`key_for`).
    ``drm`` names the systems the policy enables ('playReady', 'widevine',
    'fairPlay'; 'clearKey' for W3C ClearKey under CENC); ``templates`` holds the
    custom URL templates by system ('key' for the envelope key URL).
    """

    scheme: SchemeName
    protocols: frozenset[str]
    key: ContentKey
    drm: frozenset[str] = frozenset()
    templates: dict[str, str] = field(default_factory=dict)
    alternative_media_id: str = ""
    mappings: tuple[KeyMapping, ...] = ()
    clear_tracks: tuple[Selection, ...] = ()

    def __hash__(self) -> int:
        return hash((self.scheme, *(k.id for k in self.keys)))

    @property
    def per_track(self) -> bool:
        """Whether tracks may differ from the default key (other keys, or clear)."""
        return bool(self.mappings or self.clear_tracks)

    @property
    def keys(self) -> tuple[ContentKey, ...]:
        """Every key of the section, the default first (each once)."""
        found = {self.key.id: self.key}
        for mapping in self.mappings:
            found.setdefault(mapping.key.id, mapping.key)
        return tuple(found.values())

    def key_for(self, rendition: Rendition) -> ContentKey | None:
        """The key ``rendition`` is encrypted with; None when a clear track selects it."""
        if not self.per_track:
            return self.key
        return rendition_key(self.key, self.mappings, self.clear_tracks, rendition)

    def url_from_template(self, system: str, key: ContentKey | None = None) -> str | None:
        """The custom URL of ``system`` with ``{ContentKeyId}`` (of ``key``, else the
        default key) and ``{AlternativeMediaId}`` filled."""
        template = self.templates.get(system)
        if template is None:
            return None
        return template.replace("{ContentKeyId}", str((key or self.key).id)).replace(
            "{AlternativeMediaId}", self.alternative_media_id
        )


def _templates(section: EncryptedScheme) -> tuple[frozenset[str], dict[str, str]]:
    """(DRM systems, URL templates by system) of one section."""
    systems: set[str] = set()
    templates: dict[str, str] = {}
    if isinstance(section, EnvelopeEncryption):
        if section.custom_key_acquisition_url_template:
            templates["key"] = str(section.custom_key_acquisition_url_template)
        return frozenset(systems), templates
    assert isinstance(section, CommonEncryptionCenc | CommonEncryptionCbcs)
    drm = section.drm
    for name in ("play_ready", "widevine", "fair_play"):
        config = getattr(drm, name, None) if drm is not None else None
        if config is None:
            continue
        system = {"play_ready": "playReady", "widevine": "widevine", "fair_play": "fairPlay"}[name]
        systems.add(system)
        if config.custom_license_acquisition_url_template:
            templates[system] = str(config.custom_license_acquisition_url_template)
    clear_key = section.clear_key_encryption_configuration
    if clear_key is not None or not systems:  # a CENC policy without DRM: W3C ClearKey
        systems.add("clearKey")
        if clear_key is not None and clear_key.custom_keys_acquisition_url_template:
            templates["clearKey"] = str(clear_key.custom_keys_acquisition_url_template)
    return frozenset(systems), templates


def deliveries_of(
    policy: StreamingPolicyProperties, keys: Sequence[ContentKey], alternative_media_id: str = ""
) -> tuple[SchemeDelivery, ...]:
    """The encrypting sections of ``policy`` joined with the locator's keys (by key type
    and label)."""
    out = []
    enabled = policy.enabled_protocols()
    for section_name, section in policy.schemes().items():
        scheme = _SECTION_SCHEME.get(section_name)
        if scheme is None or not isinstance(section, EncryptedScheme):
            continue
        key, mappings = section_keys(section, _KEY_TYPE[scheme], keys)
        if key is None:
            continue  # a locator made without keys for it: the section serves nothing
        systems, templates = _templates(section)
        protocols = frozenset(enabled.get(section_name, ()))
        out.append(SchemeDelivery(scheme, protocols, key, systems, templates,
                                  alternative_media_id, mappings,
                                  selections_of(section.clear_tracks)))  # fmt: skip
    return tuple(out)


def _supported(scheme: SchemeName, fmt: ManifestFormat) -> bool:
    """Whether openvod can serve ``fmt`` under ``scheme``.

    HLS: AES-128 and SAMPLE-AES ('cbcs') on TS and fMP4. DASH: 'cenc'
    and 'cbcs' ('cbc' has no DASH signalling players read). Smooth: 'cenc' only,
    as PIFF 1.1 (PlayReady header in the manifest, AES-CTR samples).
    """
    if fmt == "smooth":
        return scheme == "cenc"
    if fmt in DASH_FORMATS:
        return scheme in ("cenc", "cbcs")
    return scheme in ("envelope", "cbcs")


# What a refusal adds for formats that carry few schemes.
_CARRIES: dict[str, str] = {
    "smooth": " Smooth Streaming is served clear or with CENC 'cenc' (PIFF: encryption=cenc"
    " or encryption=piff).",
}

# The scheme served when a request has no encryption= modifier, best first.
_PREFERENCE: dict[str, tuple[SchemeName, ...]] = {
    "hls": ("envelope", "cbcs"),
    "dash": ("cenc", "cbcs"),
    "smoothStreaming": ("cenc",),
}


def choose_delivery(
    deliveries: Sequence[SchemeDelivery],
    clear_protocols: frozenset[str],
    protocol: str,
    fmt: ManifestFormat,
    encryption: Encryption | None,
) -> SchemeDelivery | None:
    """The scheme a request is served with; None for clear.

    Without a modifier: clear when the policy enables the protocol clear, else
    the preferred enabled scheme. With one: that scheme, which the policy must
    enable for the protocol (NotFoundError otherwise). UnsupportedEncryptionError
    when the format cannot carry the scheme: an encrypting policy never falls
    back to clear segments.
    """
    enabled = [d for d in deliveries if protocol in d.protocols]
    if encryption is None:
        if protocol in clear_protocols:
            return None
        ranked = sorted(
            enabled, key=lambda d: _PREFERENCE[protocol].index(d.scheme)
            if d.scheme in _PREFERENCE[protocol] else 9,
        )  # fmt: skip
        chosen = next((d for d in ranked if _supported(d.scheme, fmt)), None)
        if chosen is None and ranked:
            raise UnsupportedEncryptionError(
                f"Format {fmt} cannot carry the {ranked[0].scheme} encryption this locator needs."
                + _CARRIES.get(fmt, "")
            )
    else:
        wanted = MODIFIER_SCHEME[encryption]
        chosen = next((d for d in enabled if d.scheme == wanted), None)
        if chosen is not None and not _supported(wanted, fmt):
            raise UnsupportedEncryptionError(
                f"Format {fmt} cannot carry encryption={encryption}." + _CARRIES.get(fmt, "")
            )
    if chosen is None:
        raise NotFoundError(f"The streaming policy does not enable this encryption for {protocol}.")
    return chosen
