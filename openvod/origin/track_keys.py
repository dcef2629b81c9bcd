"""Per-track keys and clear tracks of one encrypting section of a streaming policy.

An encrypting section (``envelopeEncryption``, ``commonEncryptionCenc``,
``commonEncryptionCbcs``) names a default key and, in
``contentKeys.keyToTrackMappings``, keys for the tracks its selections pick;
``clearTracks`` picks tracks served without encryption. A selection
(``TrackSelection``) holds when all its conditions do; a list of them when any
one does. AMS knows one condition, ``FourCC Equal {fourcc}`` on the track's
sample entry (``avc1``, ``avc3``, ``hvc1``, ``hev1``, ``mp4a``, ``ac-3``,
``ec-3``), compared without regard to case.

A rendition is clear when a clear-track selection picks it; else its key is
that of the first mapping whose selections pick it; else the default key. The
locator holds one key per label (default and each mapping), joined here by the
section's key type and the label.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from openvod.keys.content_keys import ContentKey
from openvod.media.dash import representation_id
from openvod.media.filters import Condition
from openvod.media.presentation import Rendition
from openvod.media.protection_signaling import DashProtection
from openvod.resources.streaming_policies import EncryptedScheme, TrackSelection

Selection = tuple[Condition, ...]  # every condition holds


def selections_of(tracks: Sequence[TrackSelection] | None) -> tuple[Selection, ...]:
    """The selections of a policy's ``TrackSelection`` list.

    A selection with a condition openvod cannot evaluate (``Unknown`` property or
    operation, no value) or with no condition at all picks nothing, so it is left out.
    """
    out: list[Selection] = []
    for selection in tracks or ():
        conditions = selection.track_selections or []
        usable = [
            c for c in conditions if c.property == "FourCC" and c.operation == "Equal" and c.value
        ]
        if conditions and len(usable) == len(conditions):
            out.append(tuple(Condition("FourCC", str(c.value)) for c in usable))
    return tuple(out)


def picks(selections: Sequence[Selection], rendition: Rendition) -> bool:
    """Whether any selection holds for ``rendition``."""
    return any(all(c.matches(rendition) for c in selection) for selection in selections)


@dataclass(frozen=True)
class KeyMapping:
    """One ``keyToTrackMappings`` entry joined with the locator's key for its label."""

    selections: tuple[Selection, ...]
    key: ContentKey


def _same_label(key: ContentKey, label: str | None) -> bool:
    return (key.label or "") == (label or "")


def section_keys(
    section: EncryptedScheme, key_type: str, keys: Sequence[ContentKey]
) -> tuple[ContentKey | None, tuple[KeyMapping, ...]]:
    """(default key, mappings) of ``section`` among a locator's ``keys``.

    The default key is the key of the section's type with the default label (else,
    for locators made before labels were matched, the first of that type). A
    mapping whose key the locator lacks (made before mappings had keys) is left
    out: its tracks use the default key, as they did then.
    """
    typed = [k for k in keys if k.type == key_type]
    content_keys = section.content_keys
    default_label = content_keys.default_key.label if content_keys and content_keys.default_key \
        else None  # fmt: skip
    default = next((k for k in typed if _same_label(k, default_label)), None)
    mappings: list[KeyMapping] = []
    for mapping in (content_keys.key_to_track_mappings if content_keys else None) or []:
        if not mapping.label:
            continue
        key = next((k for k in typed if _same_label(k, mapping.label)), None)
        selections = selections_of(mapping.tracks)
        if key is not None and selections:
            mappings.append(KeyMapping(selections, key))
    if default is None:
        mapped = {m.key.id for m in mappings}
        default = next((k for k in typed if k.id not in mapped), None)
    return default, tuple(mappings)


def rendition_key(
    default: ContentKey,
    mappings: Sequence[KeyMapping],
    clear: Sequence[Selection],
    rendition: Rendition,
) -> ContentKey | None:
    """The key ``rendition`` is encrypted with; None when it is served clear."""
    if picks(clear, rendition):
        return None
    for mapping in mappings:
        if picks(mapping.selections, rendition):
            return mapping.key
    return default


def per_track_tag(scheme: str, keys: Sequence[ContentKey], clear: Sequence[Selection]) -> str:
    """The cache tag of a section with per-track keys or clear tracks: every key id and the
    clear selections (two locators sharing a default key may differ in the others)."""
    ids = ",".join(str(key.id) for key in keys)
    cleared = ";".join(",".join(c.value.lower() for c in s) for s in clear)
    return f"|{scheme}|{ids}|clear={cleared}"


def representation_protections(
    renditions: Sequence[Rendition],
    key_for: Callable[[Rendition], ContentKey | None],
    protection_of: Callable[[ContentKey], DashProtection],
) -> dict[str, DashProtection | None]:
    """MPD Representation id -> the ContentProtection of its key (None: clear)."""
    made: dict[uuid.UUID, DashProtection] = {}
    out: dict[str, DashProtection | None] = {}
    for rendition in renditions:
        key = key_for(rendition)
        if key is not None and key.id not in made:
            made[key.id] = protection_of(key)
        out[representation_id(rendition)] = made[key.id] if key is not None else None
    return out
