"""Jobs: runs of a transform on inputs, into output assets; also the worker's queue rows."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from openvod.clock import iso, utcnow
from openvod.db.models import Job
from openvod.errors import ConflictError, InvalidRequestError, NotFoundError
from openvod.resources import jobs as model
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.services.repository import require_resource

TYPE = "Microsoft.Media/mediaservices/transforms/jobs"
PRIORITY_RANK = {"High": 0, "Normal": 1, "Low": 2}
FINAL_STATES = ("Finished", "Error", "Canceled")
ASSET_INPUT = "#Microsoft.Media.JobInputAsset"
HTTP_INPUT = "#Microsoft.Media.JobInputHttp"
INPUTS = "#Microsoft.Media.JobInputs"
SEQUENCE = "#Microsoft.Media.JobInputSequence"
OUTPUT_ASSET = "#Microsoft.Media.JobOutputAsset"


def _check_input(
    session: Session, account: AccountRef, value: model.JobInput, where: str,
    allowed_hosts: list[str],
) -> None:
    """The input's assets exist and its URLs are on allowed hosts."""
    if isinstance(value, model.JobInputs | model.JobInputSequence):
        for i, item in enumerate(value.inputs):
            _check_input(session, account, item, f"{where}.inputs[{i}]", allowed_hosts)
    elif isinstance(value, model.JobInputAsset):
        require_resource(session, account, "assets", value.asset_name, "input asset")
    else:
        check_http_urls(value.base_uri, value.files, where, allowed_hosts)


def check_http_input(value: Mapping[str, Any], where: str, allowed_hosts: list[str]) -> None:
    """A stored JobInputHttp must name an http(s) URL on an allowed host (the worker re-checks)."""
    check_http_urls(value.get("baseUri"), value.get("files"), where, allowed_hosts)


def check_http_urls(
    base_uri: str | None, files: list[str] | None, where: str, allowed_hosts: list[str]
) -> None:
    """Every URL of a JobInputHttp (``baseUri`` + each file) is http(s) on an allowed host."""
    base = base_uri or ""
    urls = [base + f for f in files] if files else [base]
    allowed = [h.lower() for h in allowed_hosts]
    for url in urls:
        host = _http_host(url)
        if host is None:
            raise InvalidRequestError(f"'{where}': {url!r} is not an http(s) URL.")
        if "*" not in allowed and host.lower() not in allowed:
            raise InvalidRequestError(
                f"'{where}': downloads from '{host}' are not allowed; add it to "
                "OPENVOD_HTTP_INPUT_ALLOWED_HOSTS.",
                code="DownloadNotAccessible",
            )


def _http_host(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # 'http://[::1' and other broken authorities
        return None
    return host if parts.scheme in ("http", "https") and host else None


def _stored_outputs(
    session: Session, account: AccountRef, outputs: list[model.JobOutputAsset]
) -> list[dict[str, Any]]:
    stored = []
    for out in outputs:
        asset = require_resource(session, account, "assets", out.asset_name, "output asset")
        stored.append(
            {
                "@odata.type": OUTPUT_ASSET,
                "assetName": asset.name,
                "label": out.label,
                "presetOverride": None if out.preset_override is None
                else out.preset_override.to_json(),
                "state": "Queued",
                "progress": 0,
                "error": None,
                "startTime": None,
                "endTime": None,
            }
        )
    return stored


def create(
    session: Session,
    account: AccountRef,
    transform_name: str,
    name: str,
    body: model.Job,
    *,
    allowed_hosts: list[str],
) -> Job:
    """Submit a job: check it against its transform and the account, and queue it."""
    check_resource_name(name, "job")
    transform = require_resource(session, account, "transforms", transform_name, "transform")
    if find(session, account, transform_name, name) is not None:
        raise ConflictError(
            f"The job '{name}' already exists; only its description and priority can be "
            "updated (PATCH)."
        )
    props = body.properties
    _check_input(session, account, props.input, "properties.input", allowed_hosts)
    expected = len(transform.properties["outputs"])
    if len(props.outputs) != expected:
        raise InvalidRequestError(
            f"The job needs {expected} output(s), one per output of transform "
            f"'{transform.name}'."
        )
    priority = props.priority or "Normal"
    now = utcnow()
    job = Job(
        id=str(uuid.uuid4()),
        account_id=account.id,
        transform_name=transform.name,
        transform_key=transform.name.lower(),
        name=name,
        name_key=name.lower(),
        state="Queued",
        priority_rank=PRIORITY_RANK[priority],
        properties={
            "description": props.description,
            "input": props.input.to_json(),
            "outputs": _stored_outputs(session, account, props.outputs),
            "priority": priority,
            "correlationData": props.correlation_data or {},
            "startTime": None,
            "endTime": None,
        },
        created_at=now,
        modified_at=now,
    )
    session.add(job)
    session.flush()
    return job


def find(session: Session, account: AccountRef, transform_name: str, name: str) -> Job | None:
    """A job by transform and name (case-insensitive)."""
    return session.scalar(
        select(Job).where(
            Job.account_id == account.id,
            Job.transform_key == transform_name.lower(),
            Job.name_key == name.lower(),
        )
    )


def require(session: Session, account: AccountRef, transform_name: str, name: str) -> Job:
    """A job, or NotFoundError."""
    job = find(session, account, transform_name, name)
    if job is None:
        raise NotFoundError(f"The job '{name}' of transform '{transform_name}' was not found.")
    return job


def update(
    session: Session, account: AccountRef, transform_name: str, name: str, body: model.JobUpdate
) -> Job:
    """PATCH: description, priority and correlation data (input and outputs stay as submitted)."""
    job = require(session, account, transform_name, name)
    props = body.properties
    sent = props.model_fields_set
    stored = dict(job.properties)
    if "description" in sent:
        stored["description"] = props.description
    if props.priority is not None:
        stored["priority"] = props.priority
        job.priority_rank = PRIORITY_RANK[props.priority]
    if "correlation_data" in sent:
        stored["correlationData"] = props.correlation_data or {}
    job.properties = stored
    job.modified_at = utcnow()
    return job


def cancel(session: Session, account: AccountRef, transform_name: str, name: str) -> Job:
    """cancelJob: queued jobs end at once; running ones go Canceling until the worker stops."""
    job = require(session, account, transform_name, name)
    if job.state in FINAL_STATES or job.state == "Canceling":
        return job
    if job.state == "Queued" or job.lease_owner is None:
        mark_final(job, "Canceled")
    else:
        job.cancel_requested = True
        set_state(job, "Canceling")
    return job


def set_state(job: Job, state: str) -> None:
    """Set the job state (column and properties)."""
    props = dict(job.properties)
    job.state = state
    job.modified_at = utcnow()
    job.properties = props


def mark_final(job: Job, state: str) -> None:
    """End a job: Finished, Error or Canceled, with unfinished outputs following suit."""
    now = iso(utcnow())
    props = dict(job.properties)
    outputs = []
    for out in props["outputs"]:
        out = dict(out)
        if out["state"] not in FINAL_STATES:
            out["state"] = "Canceled" if state == "Canceled" else state
            out["endTime"] = now
        outputs.append(out)
    props["outputs"] = outputs
    props["endTime"] = now
    job.properties = props
    job.state = state
    job.lease_owner = None
    job.lease_expires_at = None
    job.modified_at = utcnow()


def delete(session: Session, account: AccountRef, transform_name: str, name: str) -> None:
    """Delete a job; a running encode notices its row is gone and stops."""
    job = find(session, account, transform_name, name)
    if job is not None:
        session.delete(job)


def delete_all(session: Session, account: AccountRef, transform_name: str) -> None:
    """Delete every job of a transform."""
    for job in session.scalars(
        select(Job).where(Job.account_id == account.id,
                          Job.transform_key == transform_name.lower())
    ):
        session.delete(job)


def to_arm(account: AccountRef, job: Job) -> dict[str, Any]:
    """A job as the SDK's Job model reads it."""
    props = dict(job.properties)
    props["state"] = job.state
    props["created"] = iso(job.created_at)
    props["lastModified"] = iso(job.modified_at)
    props["outputs"] = [{k: v for k, v in o.items() if v is not None or k == "error"}
                        for o in props["outputs"]]
    return envelope(
        arm_id=f"{account.arm_id}/transforms/{job.transform_name}/jobs/{job.name}",
        name=job.name,
        type_=TYPE,
        properties=props,
        created=job.created_at,
        modified=job.modified_at,
    )


def list_arm(session: Session, account: AccountRef, transform_name: str) -> dict[str, Any]:
    """All jobs of a transform, oldest first."""
    require_resource(session, account, "transforms", transform_name, "transform")
    rows = session.scalars(
        select(Job)
        .where(Job.account_id == account.id, Job.transform_key == transform_name.lower())
        .order_by(Job.created_at)
    )
    return page([to_arm(account, j) for j in rows])
