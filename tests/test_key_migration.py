"""Migrations 0004 and 0005 index and wrap, in place, the clear content keys and policy
secrets that the code before them stored (a database at revision 0003 holding rows in
that code's shape)."""

from __future__ import annotations

import base64
import os
import time
import uuid
from pathlib import Path

import jwt
import pytest
import sqlalchemy as sa
from alembic import command

from openvod.clock import utcnow
from openvod.config import Settings
from openvod.context import open_context
from openvod.db.engine import alembic_config, create_db_engine
from openvod.errors import AuthorizationError
from openvod.services import content_key_policies as key_policies
from openvod.services import locators
from openvod.services.key_delivery import deliver_keys, locators_holding
from openvod.services.repository import account_ref, find_account, get_resource
from tests.test_migrations import _plans

NS = "#Microsoft.Media."
_meta = sa.MetaData()
_accounts = sa.Table(
    "accounts", _meta, sa.Column("id", sa.Integer), sa.Column("name", sa.String),
    sa.Column("name_key", sa.String), sa.Column("subscription_id", sa.String),
    sa.Column("resource_group", sa.String), sa.Column("location", sa.String),
    sa.Column("media_service_id", sa.String), sa.Column("tags", sa.JSON),
    sa.Column("properties", sa.JSON), sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("modified_at", sa.DateTime(timezone=True)),
)
_resources = sa.Table(
    "resources", _meta, sa.Column("account_id", sa.Integer), sa.Column("kind", sa.String),
    sa.Column("parent_key", sa.String), sa.Column("name", sa.String),
    sa.Column("name_key", sa.String), sa.Column("resource_uuid", sa.String),
    sa.Column("properties", sa.JSON), sa.Column("extra", sa.JSON),
    sa.Column("content_key_policy_key", sa.String),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("modified_at", sa.DateTime(timezone=True)),
)
KEY = os.urandom(16)
KID = uuid.uuid4()
BROKEN_KID = uuid.uuid4()
SECRET = os.urandom(64)
PFX_PASSWORD = "pfx-password-in-clear"


def _policy_properties() -> dict[str, object]:
    """A token policy as services.content_key_policies stored it before 0005."""
    restriction = {
        "@odata.type": NS + "ContentKeyPolicyTokenRestriction", "issuer": "iss",
        "audience": "aud", "restrictionTokenType": "Jwt",
        "primaryVerificationKey": {"@odata.type": NS + "ContentKeyPolicySymmetricTokenKey",
                                   "keyValue": base64.b64encode(SECRET).decode()}}
    fairplay = {"@odata.type": NS + "ContentKeyPolicyFairPlayConfiguration",
                "ask": base64.b64encode(bytes(16)).decode(),
                "fairPlayPfxPassword": PFX_PASSWORD, "fairPlayPfx": "UEZY",
                "rentalAndLeaseKeyType": "Undefined", "rentalDuration": 0}
    return {"description": None, "options": [
        {"policyOptionId": str(uuid.uuid4()), "name": "ck", "restriction": restriction,
         "configuration": {"@odata.type": NS + "ContentKeyPolicyClearKeyConfiguration"}},
        {"policyOptionId": str(uuid.uuid4()), "name": "fp", "restriction": restriction,
         "configuration": fairplay}]}


def _locator_extra() -> dict[str, object]:
    """A locator's keys as services.locators stored them before 0005."""
    return {"keys": [{"id": str(KID), "type": "EnvelopeEncryption",
                      "labelReferenceInStreamingPolicy": None,
                      "value": base64.b64encode(KEY).decode(), "policyName": "Tokens",
                      "tracks": []}]}


def _old_database(data_dir: Path) -> str:
    url = f"sqlite:///{data_dir / 'openvod.db'}"
    engine = create_db_engine(url)
    cfg = alembic_config(url)
    now = utcnow()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        account_id = conn.execute(sa.insert(_accounts).values(
            name="Old", name_key="old", subscription_id="sub", resource_group="rg",
            location="local", media_service_id=str(uuid.uuid4()), tags={}, properties={},
            created_at=now, modified_at=now).returning(_accounts.c.id)).scalar_one()
        rows: list[tuple[str, str, dict[str, object], dict[str, object]]] = [
            ("contentKeyPolicies", "Tokens", _policy_properties(), {}),
            ("assets", "movie", {"container": "asset-movie"}, {}),
            ("streamingLocators", "loc", {"assetName": "movie",
                                          "streamingPolicyName": "Predefined_ClearKey",
                                          "defaultContentKeyPolicyName": "Tokens"},
             _locator_extra()),
        ]
        broken = {"configuration": {"@odata.type": NS + "ContentKeyPolicyClearKeyConfiguration"},
                  "restriction": {"@odata.type": NS + "ContentKeyPolicyTokenRestriction"}}
        rows.append(("contentKeyPolicies", "Broken", {"options": [broken]}, {}))
        rows.append(("streamingLocators", "broken-loc", {
            "assetName": "movie", "streamingPolicyName": "Predefined_ClearKey"},
            {"keys": [{"id": str(BROKEN_KID), "type": "EnvelopeEncryption",
                       "value": base64.b64encode(KEY).decode(), "policyName": "Broken"}]}))
        for kind, name, props, extra in rows:
            conn.execute(sa.insert(_resources).values(
                account_id=account_id, kind=kind, parent_key="", name=name,
                name_key=name.lower(), resource_uuid=str(uuid.uuid4()), properties=props,
                extra=extra, content_key_policy_key="tokens" if kind != "assets" else None,
                created_at=now, modified_at=now))
    engine.dispose()
    return url


def _database_text(url: str) -> str:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT properties, extra FROM resources")).all()
    engine.dispose()
    return "\n".join(f"{p}{e}" for p, e in rows)


def test_clear_keys_and_secrets_are_wrapped_in_place(tmp_path: Path) -> None:
    url = _old_database(tmp_path)
    before = _database_text(url)
    assert base64.b64encode(KEY).decode() in before  # the old shape held them in clear
    ctx = open_context(Settings(data_dir=tmp_path))
    try:
        after = _database_text(url)
        for clear in (base64.b64encode(KEY).decode(), KEY.hex(), PFX_PASSWORD,
                      base64.b64encode(SECRET).decode()):
            assert clear not in after
        assert "wrappedValue" in after
        with ctx.session() as s:
            account = account_ref(find_account(s, "sub", "rg", "Old"))
            listed = locators.content_keys(s, account, "loc", ctx.master_key).content_keys
            got = [(uuid.UUID(str(k.id)), base64.b64decode(k.value or "")) for k in listed]
            assert got == [(KID, KEY)]
            row = get_resource(s, account, key_policies.KIND, "Tokens")
            assert row is not None
            full = key_policies.properties(row, with_secrets=True, master=ctx.master_key)
            options = full["options"]
            assert options[0]["restriction"]["primaryVerificationKey"]["keyValue"] == (
                base64.b64encode(SECRET).decode())
            assert options[1]["configuration"]["fairPlayPfxPassword"] == PFX_PASSWORD
            token = jwt.encode({"iss": "iss", "aud": "aud", "exp": int(time.time()) + 60},
                               SECRET, algorithm="HS256")
            keys = deliver_keys(s, ctx.master_key, [KID], token, utcnow())
            assert [k.value for k in keys] == [KEY]
    finally:
        ctx.engine.dispose()
    # Opening again changes nothing (already wrapped).
    ctx = open_context(Settings(data_dir=tmp_path))
    ctx.engine.dispose()
    assert _database_text(url) == after


def test_keys_are_found_by_index(tmp_path: Path) -> None:
    _old_database(tmp_path)
    ctx = open_context(Settings(data_dir=tmp_path))
    try:
        with ctx.session() as s:
            plans = _plans(ctx, lambda: locators_holding(s, KID))
        (plan,) = [p for p in plans if "locator_content_keys" in p]
        assert "SEARCH locator_content_keys USING" in plan and "(key_id=?)" in plan, plan
        with ctx.session() as s:
            assert [row.name for row, _ in locators_holding(s, KID)] == ["loc"]
    finally:
        ctx.engine.dispose()


def test_an_invalid_stored_option_opens_nothing(tmp_path: Path) -> None:
    _old_database(tmp_path)
    ctx = open_context(Settings(data_dir=tmp_path))
    try:
        with ctx.session() as s, pytest.raises(AuthorizationError):
            deliver_keys(s, ctx.master_key, [BROKEN_KID], None, utcnow())
    finally:
        ctx.engine.dispose()
