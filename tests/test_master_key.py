"""The master key: made once with mode 0600, configurable, wraps and unwraps bound secrets."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from openvod.errors import ConfigurationError
from openvod.keys.master import MasterKey, UnwrapError, load_master_key


def test_made_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    first = load_master_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    wrapped = first.wrap(b"secret", b"kid-1")
    again = load_master_key(path)
    assert again.unwrap(wrapped, b"kid-1") == b"secret"
    assert b"secret" not in wrapped


def test_configured_key_wins(tmp_path: Path) -> None:
    raw = os.urandom(32)
    key = load_master_key(tmp_path / "unused.key", base64.b64encode(raw).decode())
    assert not (tmp_path / "unused.key").exists()
    assert MasterKey(raw).unwrap_text(key.wrap_text(b"x")) == b"x"
    with pytest.raises(ConfigurationError):
        load_master_key(tmp_path / "unused.key", base64.b64encode(b"short").decode())
    with pytest.raises(ConfigurationError):
        load_master_key(tmp_path / "unused.key", "not base64!")


def test_wrapped_secrets_are_bound_and_authenticated() -> None:
    key = MasterKey(os.urandom(32))
    wrapped = key.wrap(b"content key", b"kid-1")
    with pytest.raises(UnwrapError):
        key.unwrap(wrapped, b"kid-2")  # copied onto another record
    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with pytest.raises(UnwrapError):
        key.unwrap(tampered, b"kid-1")
    with pytest.raises(UnwrapError):
        MasterKey(os.urandom(32)).unwrap(wrapped, b"kid-1")
    with pytest.raises(UnwrapError):
        key.unwrap_text("%%%")
    assert key.wrap(b"same") != key.wrap(b"same")  # fresh nonce each time
    assert "hidden" in repr(key)


def test_content_key_entries_wrap_and_read_back() -> None:
    import uuid

    from openvod.keys.content_keys import locator_keys, wrap_key_entry

    master = MasterKey(os.urandom(32))
    kid, raw = uuid.uuid4(), os.urandom(16)
    clear = {"id": str(kid), "type": "CommonEncryptionCenc",
             "value": base64.b64encode(raw).decode(),
             "labelReferenceInStreamingPolicy": "cencKey", "policyName": "p"}
    wrapped = wrap_key_entry(clear, master)
    assert "value" not in wrapped and base64.b64encode(raw).decode() not in str(wrapped)
    for entry in (clear, wrapped):  # legacy clear entries still read
        (key,) = locator_keys({"contentKeys": [entry]}, master)
        assert (key.id, key.value, key.label, key.policy_name) == (kid, raw, "cencKey", "p")
        assert raw.hex() not in repr(key)
