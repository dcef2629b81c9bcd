"""Jobs: runs of a transform on inputs, into output assets; also the worker's queue rows."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from openvod.clock import iso, parse_duration, utcnow
from openvod.db.models import Job
from openvod.errors import ConflictError, InvalidRequestError, NotFoundError
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.services.repository import require_resource

TYPE = "Microsoft.Media/mediaservices/transforms/jobs"
PRIORITY_RANK = {"High": 0, "Normal": 1, "Low": 2}
FINAL_STATES = ("Finished", "Error", "Canceled")
ASSET_INPUT = "#Microsoft.Media.JobInputAsset"
HTTP_INPUT = "#Microsoft.Media.JobInputHttp"
INPUTS = "#Microsoft.Media.JobInputs"
OUTPUT_ASSET = "#Microsoft.Media.JobOutputAsset"
ABSOLUTE_CLIP = "#Microsoft.Media.AbsoluteClipTime"


def _check_clip_time(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or value.get("@odata.type") != ABSOLUTE_CLIP:
        raise InvalidRequestError(f"'{where}' must be an AbsoluteClipTime.")
    try:
        parse_duration(str(value.get("time")))
    except ValueError as exc:
        raise InvalidRequestError(f"'{where}.time': {exc}") from exc


def _check_input(
    session: Session, account: AccountRef, value: Any, where: str, allowed_hosts: list[str]
) -> None:
    if not isinstance(value, dict):
        raise InvalidRequestError(f"'{where}' must be an object.")
    kind = value.get("@odata.type")
    if kind == INPUTS:
        inner = value.get("inputs")
        if not isinstance(inner, list) or not inner:
            raise InvalidRequestError(f"'{where}.inputs' must be a non-empty list.")
        for i, item in enumerate(inner):
            if isinstance(item, dict) and item.get("@odata.type") == INPUTS:
                raise InvalidRequestError(f"'{where}.inputs[{i}]' may not nest JobInputs.")
            _check_input(session, account, item, f"{where}.inputs[{i}]", allowed_hosts)
        return
    files = value.get("files")
    if files is not None and (
        not isinstance(files, list) or not all(isinstance(f, str) for f in files)
    ):
        raise InvalidRequestError(f"'{where}.files' must be a list of file names.")
    _check_clip_time(value.get("start"), f"{where}.start")
    _check_clip_time(value.get("end"), f"{where}.end")
    if kind == ASSET_INPUT:
        name = value.get("assetName")
        if not isinstance(name, str):
            raise InvalidRequestError(f"'{where}.assetName' is required.")
        require_resource(session, account, "assets", name, "input asset")
    elif kind == HTTP_INPUT:
        check_http_input(value, where, allowed_hosts)
    else:
        raise InvalidRequestError(
            f"'{where}' has an unsupported @odata.type {kind!r}; use JobInputAsset, "
            "JobInputHttp or JobInputs."
        )


def check_http_input(value: dict[str, Any], where: str, allowed_hosts: list[str]) -> None:
    """A JobInputHttp must name an http(s) URL on an allowed host."""
    base = value.get("baseUri") or ""
    files = value.get("files") or []
    urls = [base + f for f in files] if files else [base]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequestError(f"'{where}': {url!r} is not an http(s) URL.")
        if "*" not in allowed_hosts and parts.hostname.lower() not in [
            h.lower() for h in allowed_hosts
        ]:
            raise InvalidRequestError(
                f"'{where}': downloads from '{parts.hostname}' are not allowed; add it to "
                "OPENVOD_HTTP_INPUT_ALLOWED_HOSTS.",
                code="DownloadNotAccessible",
            )


def create(
    session: Session,
    account: AccountRef,
    transform_name: str,
    name: str,
    body: dict[str, Any],
    *,
    allowed_hosts: list[str],
) -> Job:
    """Submit a job: validate it against its transform and queue it."""
    check_resource_name(name, "job")
    transform = require_resource(session, account, "transforms", transform_name, "transform")
    if find(session, account, transform_name, name) is not None:
        raise ConflictError(
            f"The job '{name}' already exists; only its description and priority can be "
            "updated (PATCH)."
        )
    props = body.get("properties")
    if not isinstance(props, dict):
        raise InvalidRequestError("'properties' must be an object.")
    _check_input(session, account, props.get("input"), "properties.input", allowed_hosts)
    outputs = props.get("outputs")
    expected = len(transform.properties["outputs"])
    if not isinstance(outputs, list) or len(outputs) != expected:
        raise InvalidRequestError(
            f"The job needs {expected} output(s), one per output of transform "
            f"'{transform.name}'."
        )
    stored_outputs = []
    for i, out in enumerate(outputs):
        if not isinstance(out, dict) or out.get("@odata.type") != OUTPUT_ASSET:
            raise InvalidRequestError(f"'properties.outputs[{i}]' must be a JobOutputAsset.")
        asset = require_resource(session, account, "assets", str(out.get("assetName")),
                                 "output asset")
        stored_outputs.append(
            {
                "@odata.type": OUTPUT_ASSET,
                "assetName": asset.name,
                "label": out.get("label"),
                "presetOverride": out.get("presetOverride"),
                "state": "Queued",
                "progress": 0,
                "error": None,
                "startTime": None,
                "endTime": None,
            }
        )
    priority = props.get("priority") or "Normal"
    if priority not in PRIORITY_RANK:
        raise InvalidRequestError("'priority' must be Low, Normal or High.")
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
            "description": props.get("description"),
            "input": props["input"],
            "outputs": stored_outputs,
            "priority": priority,
            "correlationData": props.get("correlationData") or {},
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
    session: Session, account: AccountRef, transform_name: str, name: str, body: dict[str, Any]
) -> Job:
    """PATCH: description and priority (priority only while queued)."""
    job = require(session, account, transform_name, name)
    props = body.get("properties") or {}
    stored = dict(job.properties)
    if "description" in props:
        stored["description"] = props["description"]
    if "priority" in props:
        if props["priority"] not in PRIORITY_RANK:
            raise InvalidRequestError("'priority' must be Low, Normal or High.")
        stored["priority"] = props["priority"]
        job.priority_rank = PRIORITY_RANK[props["priority"]]
    if "correlationData" in props:
        stored["correlationData"] = props["correlationData"] or {}
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
