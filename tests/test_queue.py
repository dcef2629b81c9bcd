"""The job queue: atomic claims, leases that let another worker take over, cancel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from openvod.clock import utcnow
from openvod.config import Settings
from openvod.context import Context, open_context
from openvod.db.models import Job
from openvod.resources import jobs as job_model
from openvod.resources import transforms as transform_model
from openvod.resources.accounts import MediaService
from openvod.resources.assets import Asset
from openvod.resources.base import parse
from openvod.services import accounts, assets, jobs, transforms
from openvod.services.repository import account_ref
from openvod.worker import queue
from tests.conftest import PG_URL, reset_postgres

PRESET = {"@odata.type": "#Microsoft.Media.BuiltInStandardEncoderPreset",
          "presetName": "AdaptiveStreaming"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    PG_URL is None, reason="OPENVOD_TEST_DATABASE_URL not set"))])
def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Context]:
    url = None
    if request.param == "postgresql":
        assert PG_URL
        reset_postgres(PG_URL)
        url = PG_URL
    context = open_context(Settings(data_dir=tmp_path, database_url=url))
    yield context
    context.engine.dispose()


def _submit(ctx: Context, name: str, priority: str = "Normal") -> str:
    with ctx.session() as s:
        row, _ = accounts.create_or_update(s, "sub", "rg", "acct", MediaService(),
                                           storage_account_name="openvod")
        acct = account_ref(row)
        for asset in ("in", "out"):
            if assets.get_resource(s, acct, "assets", asset) is None:
                assets.create_or_update(s, acct, asset, Asset(), storage_account_name="openvod")
        transforms.create_or_update(s, acct, "t", parse(transform_model.Transform, {
            "properties": {"outputs": [{"preset": PRESET}]}}))
        job = jobs.create(s, acct, "t", name, parse(job_model.Job, {"properties": {
            "priority": priority,
            "input": {"@odata.type": jobs.ASSET_INPUT, "assetName": "in"},
            "outputs": [{"@odata.type": jobs.OUTPUT_ASSET, "assetName": "out"}],
        }}), allowed_hosts=[])
        return job.id


def test_claim_is_exclusive_and_by_priority(ctx: Context) -> None:
    low = _submit(ctx, "low", "Low")
    high = _submit(ctx, "high", "High")
    with ctx.session() as s:
        first = queue.claim_next(s, "worker-a", 30)
        assert first is not None and first.id == high and first.state == "Scheduled"
    with ctx.session() as s:
        second = queue.claim_next(s, "worker-b", 30)
        assert second is not None and second.id == low
    with ctx.session() as s:
        assert queue.claim_next(s, "worker-c", 30) is None


def test_expired_lease_is_reclaimed(ctx: Context) -> None:
    job_id = _submit(ctx, "j")
    with ctx.session() as s:
        assert queue.claim_next(s, "dead-worker", 30) is not None
    with ctx.session() as s:
        assert queue.claim_next(s, "other", 30) is None  # lease still valid
        job = s.get(Job, job_id)
        assert job is not None
        job.lease_expires_at = utcnow() - timedelta(seconds=1)  # the worker died
    with ctx.session() as s:
        job = queue.claim_next(s, "other", 30)
        assert job is not None and job.id == job_id and job.lease_owner == "other"
        assert job.attempts == 2
    with ctx.session() as s:
        ours, cancel = queue.renew_lease(s, job_id, "dead-worker", 30)
        assert not ours and cancel


def test_cancel_queued_job_ends_at_once(ctx: Context) -> None:
    job_id = _submit(ctx, "c")
    with ctx.session() as s:
        row = s.get(Job, job_id)
        assert row is not None
        acct = account_ref(accounts.select_account(s, row.account_id))
        jobs.cancel(s, acct, "t", "c")
    with ctx.session() as s:
        row = s.get(Job, job_id)
        assert row is not None and row.state == "Canceled"
        assert row.properties["outputs"][0]["state"] == "Canceled"
        assert queue.claim_next(s, "w", 30) is None


def test_a_job_whose_lease_keeps_expiring_ends_in_error(ctx: Context) -> None:
    job_id = _submit(ctx, "crashy")
    other = _submit(ctx, "fine")
    for attempt in (1, 2):
        with ctx.session() as s:
            job = queue.claim_next(s, f"worker-{attempt}", 30, max_attempts=2)
            assert job is not None and job.id == job_id and job.attempts == attempt
            job.lease_expires_at = utcnow() - timedelta(seconds=1)  # its worker died
    with ctx.session() as s:  # the third start is refused: Error, and the next job is free
        assert queue.claim_next(s, "worker-3", 30, max_attempts=2) is None
    with ctx.session() as s:
        row = s.get(Job, job_id)
        assert row is not None and row.state == "Error" and row.lease_owner is None
        output = row.properties["outputs"][0]
        assert output["state"] == "Error" and output["error"]["code"] == "ServiceError"
        message = output["error"]["message"]
        assert "started 2 times" in message and "max_job_attempts=2" in message
        claimed = queue.claim_next(s, "worker-3", 30, max_attempts=2)
        assert claimed is not None and claimed.id == other
