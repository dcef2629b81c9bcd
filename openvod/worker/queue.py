"""The job queue in the metadata store: claim with a lease, renew, release.

PostgreSQL: candidates are picked with ``FOR UPDATE SKIP LOCKED`` so many
workers never block on each other. SQLite has one writer at a time; the claim
is a compare-and-set UPDATE that only one worker can win.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from openvod.clock import iso, utcnow
from openvod.db.models import Job
from openvod.services import jobs as job_rules

RUNNING_STATES = ("Scheduled", "Processing", "Canceling")


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        Job.state == "Queued",
        (Job.state.in_(RUNNING_STATES)) & (Job.lease_expires_at < now),
    )


def claim_next(
    session: Session, worker_id: str, lease_seconds: int, *, max_attempts: int | None = None
) -> Job | None:
    """Claim the most urgent claimable job for ``worker_id``; None if there is none.

    A job is claimable when Queued, or when its worker stopped renewing the lease
    (it died mid-job): then it starts again from the beginning, unless it has
    been started ``max_attempts`` times already: then it ends in Error (see
    :func:`give_up`) and None is returned.
    """
    now = utcnow()
    query = (
        select(Job.id, Job.state, Job.lease_owner)
        .where(_claimable(now))
        .order_by(Job.priority_rank, Job.created_at)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = session.execute(query).first()
    if row is None:
        return None
    job_id, old_state, old_owner = row
    expires = now + timedelta(seconds=lease_seconds)
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == old_state)
        .where(Job.lease_owner.is_(None) if old_owner is None else Job.lease_owner == old_owner)
        .values(lease_owner=worker_id, lease_expires_at=expires, attempts=Job.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return None
    if job.state == "Canceling":
        return job  # the worker finishes the cancellation
    if max_attempts is not None and job.attempts > max_attempts:
        give_up(job, max_attempts, lease_seconds)
        session.flush()
        return None
    props = dict(job.properties)
    if old_state == "Queued":
        props["startTime"] = iso(now)
    job.properties = props
    job.state = "Scheduled"
    job.modified_at = now
    session.flush()
    return job


def renew_lease(
    session: Session, job_id: str, worker_id: str, lease_seconds: int
) -> tuple[bool, bool]:
    """Extend the lease; returns (still ours, cancel requested)."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.lease_owner != worker_id:
        return False, True
    job.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds)
    return True, job.cancel_requested


def give_up(job: Job, max_attempts: int, lease_seconds: int) -> None:
    """End a job whose workers kept dying under it: Error, with a message on each output."""
    started = job.attempts - 1
    message = (
        f"The job was started {started} time{'s' if started != 1 else ''} and each time its "
        f"worker stopped before finishing (no lease renewal for {lease_seconds} s: the worker "
        f"was killed, crashed or lost the database); it is not started again after "
        f"max_job_attempts={max_attempts}."
    )
    error = {
        "code": "ServiceError",
        "message": message,
        "category": "Service",
        "retry": "MayRetry",
        "details": [{"code": "ServiceError", "message": message}],
    }
    props = dict(job.properties)
    props["outputs"] = [
        o if o.get("state") in job_rules.FINAL_STATES else dict(o, error=error)
        for o in props["outputs"]
    ]
    job.properties = props
    job_rules.mark_final(job, "Error")
