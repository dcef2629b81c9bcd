"""Content keys of a streaming locator as the origin and key delivery use them.

A locator's stored properties carry ``contentKeys`` entries (id, type, label,
policy name and the key). This module is the one reader of those entries: the
key itself is kept wrapped by the master key (``wrappedValue``, bound to the key
id); entries written before keys were wrapped hold ``value`` (base64) and still
read.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openvod.errors import MediaError
from openvod.keys.master import MasterKey

KEY_BYTES = 16


@dataclass(frozen=True)
class ContentKey:
    """One content key of a locator (``value`` is the 16-byte AES key: never log it)."""

    id: uuid.UUID
    value: bytes
    type: str  # EnvelopeEncryption | CommonEncryptionCenc | CommonEncryptionCbcs
    label: str | None
    policy_name: str | None

    def __repr__(self) -> str:
        return f"ContentKey(id={self.id}, type={self.type}, label={self.label!r})"


def key_context(key_id: uuid.UUID) -> bytes:
    """What a wrapped content key is bound to: its id."""
    return b"content-key:" + key_id.bytes


def wrap_key_entry(entry: Mapping[str, Any], master: MasterKey) -> dict[str, Any]:
    """A stored entry with its clear ``value`` replaced by ``wrappedValue``."""
    out = dict(entry)
    clear = out.pop("value", None)
    if clear is not None:
        key_id = uuid.UUID(str(out["id"]))
        out["wrappedValue"] = master.wrap_text(base64.b64decode(clear), key_context(key_id))
    return out


def read_key_entry(entry: Mapping[str, Any], master: MasterKey) -> ContentKey:
    """One stored ``contentKeys`` entry as a :class:`ContentKey`."""
    key_id = uuid.UUID(str(entry["id"]))
    wrapped = entry.get("wrappedValue")
    try:
        if wrapped is not None:
            value = master.unwrap_text(str(wrapped), key_context(key_id))
        else:
            value = base64.b64decode(str(entry["value"]), validate=True)
    except (binascii.Error, ValueError, KeyError) as exc:
        raise MediaError(f"content key {key_id} cannot be read: {exc}") from None
    if len(value) != KEY_BYTES:
        raise MediaError(f"content key {key_id} is {len(value)} bytes, not {KEY_BYTES}")
    return ContentKey(
        id=key_id,
        value=value,
        type=str(entry.get("type") or ""),
        label=entry.get("labelReferenceInStreamingPolicy"),
        policy_name=entry.get("policyName"),
    )


def locator_keys(properties: Mapping[str, Any], master: MasterKey) -> list[ContentKey]:
    """The content keys in a locator's stored properties (none for clear policies)."""
    entries: Sequence[Mapping[str, Any]] = properties.get("contentKeys") or []
    return [read_key_entry(entry, master) for entry in entries]


def stored_locator_keys(extra: Mapping[str, Any], master: MasterKey) -> list[ContentKey]:
    """The content keys of a locator row's ``extra`` (``services.locators`` keeps them under
    ``keys``, wrapped), for callers holding the database row rather than ARM properties."""
    return locator_keys({"contentKeys": extra.get("keys") or []}, master)
