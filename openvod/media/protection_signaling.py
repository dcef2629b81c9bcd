"""How manifests announce encryption: HLS key tags, DASH ContentProtection, Smooth Protection.

Pure text in, text out; the builders in :mod:`.hls` and :mod:`.dash` stay
unaware of encryption:

- HLS: ``#EXT-X-KEY`` lines (AES-128 with an optional explicit IV; SAMPLE-AES
  with ``KEYFORMAT="identity"`` and FairPlay's ``com.apple.streamingkeydelivery``),
  given to :func:`~openvod.media.hls.build_media_playlist`; and
  :func:`carry_query` adds a query (a player's token) to every playlist URI of a
  master playlist, so media playlists, whose key URIs carry the token, get it.
- DASH: :class:`DashProtection` renders the ``ContentProtection`` elements
  (``urn:mpeg:dash:mp4protection:2011`` with ``cenc:default_KID``, W3C
  ClearKey with its license URL as ``clearkey:Laurl`` and ``dashif:Laurl``,
  Widevine and PlayReady with ``cenc:pssh``), and :func:`add_content_protection`
  puts them first in every video and audio AdaptationSet of an MPD;
  :func:`add_track_content_protection` does so per Representation's key
  (per-track keys, clear tracks).
- Smooth ([MS-SSTR] 2.2.2.2): :func:`add_smooth_protection` adds the
  ``<Protection>`` element with one ``ProtectionHeader`` (the system's header,
  base64: the PlayReady Object for PlayReady) as the last child of
  ``SmoothStreamingMedia``, where IIS Media Services and AMS wrote it.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape, unescape

from openvod.media.crypto.hls_aes import iv_attribute

MP4_PROTECTION_SCHEME = "urn:mpeg:dash:mp4protection:2011"
CLEARKEY_SCHEME = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"
WIDEVINE_SCHEME = "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
PLAYREADY_SCHEME = "urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95"
NAMESPACES = {
    "cenc": "urn:mpeg:cenc:2013",
    "clearkey": "http://dashif.org/guidelines/clearKey",
    "dashif": "https://dashif.org/CPS",
    "mspr": "urn:microsoft:playready",
}
FAIRPLAY_KEYFORMAT = "com.apple.streamingkeydelivery"
_MEDIA_SET = re.compile(r'^(?P<indent> *)<AdaptationSet [^>]*contentType="(?:video|audio)"[^>]*>$')


def aes128_key_tag(uri: str, iv: bytes | None = None) -> str:
    """``#EXT-X-KEY:METHOD=AES-128`` (without ``iv`` players use the media sequence number)."""
    iv_text = f",IV={iv_attribute(iv)}" if iv is not None else ""
    return f'#EXT-X-KEY:METHOD=AES-128,URI="{uri}"{iv_text}'


def sample_aes_key_tags(
    identity_uri: str, fairplay_uri: str | None = None, iv: bytes | None = None
) -> list[str]:
    """SAMPLE-AES key tags: the clear-key ``identity`` one, then FairPlay's. ``iv``: the
    explicit IV MPEG-TS SAMPLE-AES needs (fMP4 'cbcs' carries its IV in 'tenc')."""
    iv_text = f",IV={iv_attribute(iv)}" if iv is not None else ""
    tags = [f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{identity_uri}"{iv_text},KEYFORMAT="identity"']
    if fairplay_uri is not None:
        tags.append(
            f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{fairplay_uri}"{iv_text},'
            f'KEYFORMAT="{FAIRPLAY_KEYFORMAT}",KEYFORMATVERSIONS="1"'
        )
    return tags


def _with_query(uri: str, query: str) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def carry_query(master_playlist: str, query: str) -> str:
    """A master playlist whose playlist URIs (lines and ``URI="..."``) end with ``query``."""
    lines = []
    for line in master_playlist.split("\n"):
        if line and not line.startswith("#"):
            line = _with_query(line, query)
        elif 'URI="' in line:
            line = re.sub(r'URI="([^"]*)"', lambda m: f'URI="{_with_query(m[1], query)}"', line)
        lines.append(line)
    return "\n".join(lines)


def kid_text(key_id: bytes) -> str:
    """A KID as ``cenc:default_KID`` writes it: the UUID form."""
    return str(uuid.UUID(bytes=key_id))


@dataclass(frozen=True)
class DashProtection:
    """What the ContentProtection elements of an encrypted MPD say.

    ``clearkey_url`` (W3C ClearKey license), ``widevine_pssh`` and
    ``playready_pssh`` (whole 'pssh' boxes) are each left out when None.
    """

    scheme: str  # 'cenc' or 'cbcs'
    key_id: bytes
    clearkey_url: str | None = None
    widevine_pssh: bytes | None = None
    playready_pssh: bytes | None = None
    playready_url: str | None = None

    def elements(self, indent: str) -> list[str]:
        """The ContentProtection elements, one or more lines each."""
        inner = indent + "  "
        lines = [
            f'{indent}<ContentProtection schemeIdUri="{MP4_PROTECTION_SCHEME}" '
            f'value="{self.scheme}" cenc:default_KID="{kid_text(self.key_id)}"/>'
        ]
        if self.clearkey_url is not None:
            url = escape(self.clearkey_url)
            lines += [
                f'{indent}<ContentProtection schemeIdUri="{CLEARKEY_SCHEME}" value="ClearKey1.0">',
                f'{inner}<clearkey:Laurl Lic_type="EME-1.0">{url}</clearkey:Laurl>',
                f"{inner}<dashif:Laurl>{url}</dashif:Laurl>",
                f"{indent}</ContentProtection>",
            ]  # no cenc:pssh: dash.js would pass it to EME as 'keyids' init data
        if self.widevine_pssh is not None:
            lines += [
                f'{indent}<ContentProtection schemeIdUri="{WIDEVINE_SCHEME}" value="Widevine">',
                f"{inner}<cenc:pssh>{_b64(self.widevine_pssh)}</cenc:pssh>",
                f"{indent}</ContentProtection>",
            ]
        if self.playready_pssh is not None:
            lines.append(
                f'{indent}<ContentProtection schemeIdUri="{PLAYREADY_SCHEME}" value="MSPR 2.0">'
            )
            if self.playready_url is not None:
                lines.append(f"{inner}<dashif:Laurl>{escape(self.playready_url)}</dashif:Laurl>")
            lines += [
                f"{inner}<cenc:pssh>{_b64(self.playready_pssh)}</cenc:pssh>",
                f"{indent}</ContentProtection>",
            ]
        return lines


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def add_content_protection(mpd: str, protection: DashProtection) -> str:
    """``mpd`` with the protection namespaces on its root and the ContentProtection
    elements first in every video and audio AdaptationSet (text sets stay clear)."""
    declarations = " ".join(f'xmlns:{p}="{u}"' for p, u in NAMESPACES.items())
    mpd = mpd.replace("<MPD ", f"<MPD {declarations} ", 1)
    out: list[str] = []
    for line in mpd.split("\n"):
        out.append(line)
        match = _MEDIA_SET.match(line)
        if match:
            out += protection.elements(match["indent"] + "  ")
    return "\n".join(out)


def add_smooth_protection(manifest: str, system_id: uuid.UUID, header: bytes) -> str:
    """A Smooth client manifest announcing one protection system and its header."""
    element = (
        "  <Protection>\n"
        f'    <ProtectionHeader SystemID="{system_id}">{_b64(header)}</ProtectionHeader>\n'
        "  </Protection>\n"
    )
    end = manifest.rindex("</SmoothStreamingMedia>")
    return manifest[:end] + element + manifest[end:]


_REPRESENTATION = re.compile(r'^(?P<indent> *)<Representation id="(?P<id>[^"]*)"')


def add_track_content_protection(mpd: str, protections: Mapping[str, DashProtection | None]) -> str:
    """``mpd`` with each Representation's protection (by Representation id; None: clear).

    A video or audio AdaptationSet whose Representations share one protection gets its
    elements first, as :func:`add_content_protection` writes them; a set whose
    Representations are all clear gets none; a mixed set gets them in each encrypted
    Representation (after its AudioChannelConfiguration, as the schema orders them).
    """
    lines = mpd.split("\n")
    if any(p is not None for p in protections.values()):
        declarations = " ".join(f'xmlns:{p}="{u}"' for p, u in NAMESPACES.items())
        lines = "\n".join(lines).replace("<MPD ", f"<MPD {declarations} ", 1).split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        match = _MEDIA_SET.match(lines[index])
        if match is None:
            out.append(lines[index])
            index += 1
            continue
        end = lines.index(f"{match['indent']}</AdaptationSet>", index)
        out += _protected_set(lines[index : end + 1], protections)
        index = end + 1
    return "\n".join(out)


def _protected_set(block: list[str], protections: Mapping[str, DashProtection | None]) -> list[str]:
    """One AdaptationSet's lines with its protection."""
    ids = [m["id"] for m in map(_REPRESENTATION.match, block) if m is not None]
    found = [protections.get(unescape(i)) for i in ids]
    if found and all(p == found[0] for p in found):
        if found[0] is None:
            return block
        indent = _MEDIA_SET.match(block[0])["indent"]  # type: ignore[index]
        return [block[0], *found[0].elements(indent + "  "), *block[1:]]
    out: list[str] = []
    pending: tuple[DashProtection, str] | None = None  # waiting after a Representation tag
    for position, line in enumerate(block):
        out.append(line)
        match = _REPRESENTATION.match(line)
        if match is not None:
            protection = protections.get(unescape(match["id"]))
            indent = match["indent"]
            if protection is not None and line.endswith("/>"):
                out[-1] = line[:-2] + ">"
                out += [*protection.elements(indent + "  "), f"{indent}</Representation>"]
                continue
            pending = (protection, indent) if protection is not None else None
        elif pending is None:
            continue
        following = block[position + 1] if position + 1 < len(block) else ""
        if pending is not None and not following.lstrip().startswith("<AudioChannelConfiguration"):
            out += pending[0].elements(pending[1] + "  ")
            pending = None
    return out
