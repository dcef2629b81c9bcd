"""Content key policy secrets at rest: token keys, FairPlay ASK, PFX and password, wrapped.

Each secret field of a stored policy document (``keyValue``, ``exponent``, ``modulus``,
``rawBody``, ``ask``, ``fairPlayPfx``, ``fairPlayPfxPassword``) holds
``{"wrapped": <master-key-wrapped text>}`` instead of the clear value, bound to the
policy's id and the field's name. Documents stored before secrets were wrapped hold the
clear strings and still read.
"""

from __future__ import annotations

from typing import Any

from openvod.keys.master import MasterKey
from openvod.resources.content_key_policies import SECRET_FIELDS

WRAPPED = "wrapped"


def _context(policy_id: str, field: str) -> bytes:
    return f"content-key-policy:{policy_id}:{field}".encode()


def wrap_secrets(document: Any, master: MasterKey, policy_id: str) -> Any:
    """A copy of ``document`` with every clear secret field wrapped."""
    if isinstance(document, list):
        return [wrap_secrets(item, master, policy_id) for item in document]
    if not isinstance(document, dict):
        return document
    out: dict[str, Any] = {}
    for name, value in document.items():
        if name in SECRET_FIELDS and isinstance(value, str):
            out[name] = {WRAPPED: master.wrap_text(value.encode("utf-8"),
                                                   _context(policy_id, name))}
        else:
            out[name] = wrap_secrets(value, master, policy_id)
    return out


def unwrap_secrets(document: Any, master: MasterKey, policy_id: str) -> Any:
    """A copy of ``document`` with every wrapped secret field back in clear."""
    if isinstance(document, list):
        return [unwrap_secrets(item, master, policy_id) for item in document]
    if not isinstance(document, dict):
        return document
    out: dict[str, Any] = {}
    for name, value in document.items():
        if name in SECRET_FIELDS and isinstance(value, dict) and WRAPPED in value:
            clear = master.unwrap_text(str(value[WRAPPED]), _context(policy_id, name))
            out[name] = clear.decode("utf-8")
        else:
            out[name] = unwrap_secrets(value, master, policy_id)
    return out
