"""Migrations upgrade a data folder made by revision 0001 in place, on SQLite and PostgreSQL.

The old database is made the way the 0001-era code wrote it: ``alembic upgrade
0001``, then rows inserted with SQL in that code's shape (JSON properties, no
reference columns, tokens with only a hash). Opening a context then migrates
it exactly as ``openvod serve`` does at start.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from openvod.clock import utcnow
from openvod.config import Settings
from openvod.context import Context, open_context
from openvod.db.engine import alembic_config, create_db_engine
from openvod.db.models import Job
from openvod.errors import ConflictError
from openvod.resources.base import parse
from openvod.resources.content_key_policies import ContentKeyPolicy
from openvod.resources.locators import StreamingLocator
from openvod.services import assets, locators, policies, tokens
from openvod.services import content_key_policies as key_policies
from openvod.services.arm import AccountRef
from openvod.services.repository import (
    account_ref,
    find_account,
    is_referenced,
    referencing,
    save_resource,
)
from tests.conftest import PG_URL, reset_postgres

NS = "#Microsoft.Media."

OLD_TOKEN = "ovd_made-before-scopes-existed"
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
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("modified_at", sa.DateTime(timezone=True)),
)
_tokens = sa.Table(
    "api_tokens", _meta, sa.Column("token_hash", sa.String), sa.Column("label", sa.String),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)


@dataclass
class OldDatabase:
    """A database URL at revision 0001 holding rows the 0001-era code wrote."""

    url: str
    data_dir: Path


def _locator(name: str, asset: str, policy: str, key_policy: str | None) -> dict[str, object]:
    """The properties locators.create stored at revision 0001."""
    return {
        "assetName": asset, "streamingPolicyName": policy, "startTime": None, "endTime": None,
        "streamingLocatorId": str(uuid.uuid4()), "defaultContentKeyPolicyName": key_policy,
        "alternativeMediaId": None, "filters": [],
    }


def _fill_old_rows(conn: sa.Connection) -> None:
    now = utcnow()
    account_id = conn.execute(sa.insert(_accounts).values(
        name="Legacy", name_key="legacy", subscription_id="sub", resource_group="rg",
        location="local", media_service_id=str(uuid.uuid4()), tags={}, properties={},
        created_at=now, modified_at=now,
    ).returning(_accounts.c.id)).scalar_one()
    rows: list[tuple[str, str, dict[str, object]]] = [
        ("assets", "Movie", {"container": "asset-movie", "storageAccountName": "openvod",
                             "storageEncryptionFormat": "None"}),
        ("assets", "Trailer", {"container": "asset-trailer", "storageAccountName": "openvod",
                               "storageEncryptionFormat": "None"}),
        ("streamingPolicies", "MyPolicy", {
            "noEncryption": {"enabledProtocols": {"download": True, "dash": True,
                                                  "hls": True, "smoothStreaming": False}},
            "defaultContentKeyPolicyName": "KeyPolicyOne"}),
        ("streamingLocators", "movie-custom", _locator("movie-custom", "Movie", "MyPolicy",
                                                       "KeyPolicyOne")),
        ("streamingLocators", "movie-clear", _locator(
            "movie-clear", "movie", "Predefined_ClearStreamingOnly", None)),
        ("streamingLocators", "trailer-custom", _locator(
            "trailer-custom", "Trailer", "mypolicy", None)),
    ]
    for offset, (kind, name, props) in enumerate(rows):
        stamp = now - timedelta(seconds=len(rows) - offset)  # in the past, in order
        conn.execute(sa.insert(_resources).values(
            account_id=account_id, kind=kind, parent_key="", name=name, name_key=name.lower(),
            resource_uuid=str(props.get("streamingLocatorId") or uuid.uuid4()),
            properties=props, extra={"keys": []} if kind == "streamingLocators" else {},
            created_at=stamp, modified_at=stamp,
        ))
    conn.execute(sa.insert(_tokens).values(
        token_hash=tokens._hash(OLD_TOKEN), label="old", created_at=now))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    PG_URL is None, reason="OPENVOD_TEST_DATABASE_URL not set"))])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> OldDatabase:
    url = f"sqlite:///{tmp_path / 'openvod.db'}"  # where Settings puts it for this data dir
    if request.param == "postgresql":
        assert PG_URL
        reset_postgres(PG_URL)
        url = PG_URL
    engine = create_db_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        _fill_old_rows(conn)
    engine.dispose()
    return OldDatabase(url, tmp_path)


@pytest.fixture
def migrated(old_database: OldDatabase) -> Iterator[Context]:
    """The old database opened as openvod serve opens it (which migrates to head)."""
    database_url = None if old_database.url.startswith("sqlite") else old_database.url
    ctx = open_context(Settings(data_dir=old_database.data_dir, database_url=database_url))
    yield ctx
    ctx.engine.dispose()


def _legacy(ctx: Context) -> AccountRef:
    with ctx.session() as s:
        return account_ref(find_account(s, "sub", "rg", "legacy"))


def test_upgrade_fills_reference_columns(migrated: Context) -> None:
    with migrated.engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        rows = conn.execute(sa.text(
            "SELECT name, asset_key, streaming_policy_key, content_key_policy_key "
            "FROM resources ORDER BY name")).all()
    assert version == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert [tuple(r) for r in rows] == [
        ("Movie", None, None, None),
        ("MyPolicy", None, None, "keypolicyone"),
        ("Trailer", None, None, None),
        ("movie-clear", "movie", "predefined_clearstreamingonly", None),
        ("movie-custom", "movie", "mypolicy", "keypolicyone"),
        ("trailer-custom", "trailer", "mypolicy", None),
    ]


def test_reference_indexes_exist(migrated: Context) -> None:
    inspector = sa.inspect(migrated.engine)
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("resources")}
    assert indexes["ix_resources_asset"] == ["account_id", "kind", "asset_key"]
    assert indexes["ix_resources_streaming_policy"] == [
        "account_id", "kind", "streaming_policy_key"]
    assert indexes["ix_resources_content_key_policy"] == [
        "account_id", "kind", "content_key_policy_key"]
    # Jobs by transform are found through the unique constraint's index, account first.
    uniques = [u["column_names"] for u in inspector.get_unique_constraints("jobs")]
    assert ["account_id", "transform_key", "name_key"] in uniques
    token_indexes = {i["name"]: i for i in inspector.get_indexes("api_tokens")}
    assert token_indexes["ix_api_tokens_public_id"]["unique"]


def test_rules_answer_from_the_backfilled_columns(migrated: Context) -> None:
    acct = _legacy(migrated)
    with migrated.session() as s:
        movie = [r.name for r in locators.rows_for_asset(s, acct, "MOVIE")]
        assert movie == ["movie-custom", "movie-clear"]
        assert locators.policy_in_use(s, acct, "MyPolicy")
        assert not locators.policy_in_use(s, acct, "Predefined_DownloadOnly")
        by_key_policy = referencing(s, acct, "streamingLocators", content_key_policy="keypolicyone")
        assert [r.name for r in by_key_policy] == ["movie-custom"]
        assert is_referenced(s, acct, "streamingPolicies", content_key_policy="KeyPolicyOne")
        with pytest.raises(ConflictError):
            policies.delete(s, acct, "MyPolicy")
    with migrated.session() as s:
        assert assets.delete(s, acct, "Trailer") == "asset-trailer"  # files go after commit
    with migrated.session() as s:
        names = [r.name for r in locators.list_resources(s, acct, locators.KIND)]
        assert names == ["movie-custom", "movie-clear"]
        assert assets.delete(s, acct, "Movie") == "asset-movie"
    with migrated.session() as s:
        assert not locators.policy_in_use(s, acct, "mypolicy")
        policies.delete(s, acct, "MyPolicy")
        assert policies.get_resource(s, acct, policies.KIND, "MyPolicy") is None


def test_new_locators_store_their_references(migrated: Context) -> None:
    acct = _legacy(migrated)
    with migrated.session() as s:
        option = {"configuration": {"@odata.type": NS + "ContentKeyPolicyClearKeyConfiguration"},
                  "restriction": {"@odata.type": NS + "ContentKeyPolicyOpenRestriction"}}
        key_policies.create_or_update(s, acct, "Other", parse(
            ContentKeyPolicy, {"properties": {"options": [option]}}), migrated.master_key)
        locators.create(s, acct, "fresh", parse(StreamingLocator, {"properties": {
            "assetName": "trailer", "streamingPolicyName": "predefined_downloadonly",
            "defaultContentKeyPolicyName": "other"}}), migrated.master_key)
    with migrated.session() as s:
        row = locators.get_resource(s, acct, locators.KIND, "fresh")
        assert row is not None
        assert (row.asset_key, row.streaming_policy_key, row.content_key_policy_key) == (
            "trailer", "predefined_downloadonly", "other")
        assert sorted(r.name for r in locators.rows_for_asset(s, acct, "Trailer")) == [
            "fresh", "trailer-custom"]


def test_policies_stored_before_the_typed_model_still_read(migrated: Context) -> None:
    """Revision-0001 code stored scheme sections as sent; their protocols still count."""
    acct = _legacy(migrated)
    with migrated.session() as s:
        _, policy = policies.get_properties(s, acct, "mypolicy")  # a clean one parses as is
        assert policy.enabled_protocols() == {"noEncryption": {"download", "dash", "hls"}}
        save_resource(s, acct, policies.KIND, "Odd", {
            "noEncryption": {"enabledProtocols": {"download": 1, "hls": True},
                             "note": "0001 kept unknown keys"},
            "defaultContentKeyPolicyName": "KeyPolicyOne"})
    with migrated.session() as s:
        name, policy = policies.get_properties(s, acct, "odd")
        assert name == "Odd" and policy.enabled_protocols() == {"noEncryption": {"download", "hls"}}
        assert policy.default_content_key_policy_name == "KeyPolicyOne"
        doc = policies.to_arm(acct, s, "odd")
        assert doc["properties"]["noEncryption"] == {"enabledProtocols": {
            "download": True, "dash": False, "hls": True, "smoothStreaming": False}}


def test_tokens_from_before_scopes_use_every_account_and_never_expire(migrated: Context) -> None:
    with migrated.session() as s:
        grant = tokens.authenticate(s, OLD_TOKEN, utcnow() + timedelta(days=3650))
        assert grant.accounts is None and grant.allows("anyaccount")
        (info,) = tokens.list_tokens(s)
    assert info.public_id == grant.public_id and info.public_id.startswith("tok_")
    assert info.label == "old" and info.expires_at is None and info.revoked_at is None
    assert info.last_used_at is not None
    assert json.dumps(info.__dict__, default=str).find(OLD_TOKEN) == -1


def _plans(ctx: Context, run: Callable[[], object]) -> list[str]:
    """SQLite's query plan of every SELECT that ``run`` issues."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: object, _cursor: object, sql: str, params: Any, *_: object) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            statements.append((sql, params))

    sa.event.listen(ctx.engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        sa.event.remove(ctx.engine, "before_cursor_execute", capture)
    with ctx.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        return [" ".join(str(row[-1]) for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params))
                for sql, params in statements]


def test_rules_are_index_searches_on_sqlite(migrated: Context) -> None:
    if migrated.engine.dialect.name != "sqlite":
        pytest.skip("query plans are checked on SQLite; PostgreSQL plans depend on statistics")
    acct = _legacy(migrated)
    with migrated.session() as s:
        uses = {
            "INDEX ix_resources_asset (account_id=? AND kind=? AND asset_key=?)":
                lambda: locators.rows_for_asset(s, acct, "movie"),
            "INDEX ix_resources_streaming_policy (account_id=? AND kind=? AND "
            "streaming_policy_key=?)": lambda: locators.policy_in_use(s, acct, "mypolicy"),
            "INDEX ix_resources_content_key_policy (account_id=? AND kind=? AND "
            "content_key_policy_key=?)": lambda: is_referenced(
                s, acct, "streamingPolicies", content_key_policy="keypolicyone"),
            # jobs of a transform: the (account_id, transform_key, name_key) unique index
            "(account_id=? AND transform_key=?)": lambda: s.scalars(
                sa.select(Job).where(Job.account_id == acct.id, Job.transform_key == "t")
            ).all(),
        }
        for expected, run in uses.items():
            (plan,) = [p for p in _plans(migrated, run) if "resources" in p or "jobs" in p]
            assert plan.startswith("SEARCH") and expected in plan, plan
