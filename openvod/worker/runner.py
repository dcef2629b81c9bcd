"""Runs claimed jobs: inputs → encoder → output assets, with progress, leases and cancel."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from openvod.clock import iso, utcnow
from openvod.context import Context
from openvod.db.models import Account, Job, Resource
from openvod.errors import (
    EncodeError,
    JobCanceledError,
    MediaError,
    OpenvodError,
)
from openvod.services import jobs as job_rules
from openvod.services.repository import account_ref
from openvod.storage.movie_files import write_sidecar
from openvod.worker import queue, workdir
from openvod.worker.inputs import DownloadError, LocalInput, resolve_inputs

log = logging.getLogger(__name__)

# How often a worker deletes expired uncommitted blocks from the store.
SWEEP_SECONDS = 3600.0

# AMS JobErrorCode -> (category, retry).
_ERROR_KINDS = {
    "ContentMalformed": ("Content", "DoNotRetry"),
    "ContentUnsupported": ("Content", "DoNotRetry"),
    "ConfigurationUnsupported": ("Configuration", "DoNotRetry"),
    "DownloadNotAccessible": ("Download", "DoNotRetry"),
    "DownloadTransientError": ("Download", "MayRetry"),
    "UploadNotAccessible": ("Upload", "DoNotRetry"),
    "ServiceError": ("Service", "MayRetry"),
}


def job_error(exc: BaseException) -> dict[str, Any]:
    """The AMS JobError body for an exception, with a message a person understands."""
    if isinstance(exc, DownloadError):
        code = "DownloadNotAccessible"
    elif isinstance(exc, EncodeError):
        code = exc.code if exc.code in _ERROR_KINDS else "ConfigurationUnsupported"
    elif isinstance(exc, MediaError):
        code = exc.code if exc.code in _ERROR_KINDS else "ContentMalformed"
    else:
        code = "ServiceError"
    message = exc.message if isinstance(exc, OpenvodError) else f"Internal error: {exc}"
    category, retry = _ERROR_KINDS[code]
    return {
        "code": code,
        "message": message,
        "category": category,
        "retry": retry,
        "details": [{"code": code, "message": message}],
    }


class _Heartbeat(threading.Thread):
    """Renews the lease, writes progress, and turns a cancel request into an Event."""

    def __init__(self, ctx: Context, job_id: str, worker_id: str) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id[:8]}")
        self.ctx, self.job_id, self.worker_id = ctx, job_id, worker_id
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self.done = threading.Event()
        self.output_index = 0
        self.progress = 0.0
        self._written: tuple[int, int] | None = None
        self.interval = min(1.0, ctx.settings.job_lease_seconds / 5)

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                self.beat()
            except Exception:  # keep beating: a transient DB error must not kill the job
                log.exception("heartbeat failed for job %s", self.job_id)

    def beat(self) -> None:
        lease = self.ctx.settings.job_lease_seconds
        with self.ctx.session() as s:
            ours, cancel = queue.renew_lease(s, self.job_id, self.worker_id, lease)
            if not ours:
                self.lost.set()
            if cancel or not ours:
                self.cancel.set()
                return
            snapshot = (self.output_index, int(self.progress))
            job = s.get(Job, self.job_id)
            if job is not None and snapshot != self._written:
                _set_output(job, self.output_index, progress=snapshot[1])
                self._written = snapshot


def _set_output(job: Job, index: int, **changes: Any) -> None:
    props = dict(job.properties)
    outputs = [dict(o) for o in props["outputs"]]
    outputs[index].update(changes)
    props["outputs"] = outputs
    job.properties = props
    job.modified_at = utcnow()


class Worker:
    """Claims and runs jobs until stopped. Several may run, on any machines."""

    def __init__(self, ctx: Context, worker_id: str | None = None) -> None:
        self.ctx = ctx
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def run_forever(self, stop: threading.Event, poll_seconds: float = 0.25) -> None:
        """Remove stale work folders, then poll for jobs until ``stop`` is set; expired
        uncommitted blocks are swept at start and every :data:`SWEEP_SECONDS`."""
        workdir.remove_stale(self._work_root())
        swept_at: float | None = None
        while not stop.is_set():
            if swept_at is None or time.monotonic() - swept_at >= SWEEP_SECONDS:
                swept_at = time.monotonic()
                self._sweep_blocks()
            try:
                ran = self.run_once()
            except Exception:
                log.exception("worker loop error")
                ran = False
            if not ran:
                stop.wait(poll_seconds)

    def _sweep_blocks(self) -> None:
        try:
            swept = self.ctx.store.sweep_expired_blocks()
        except Exception:
            log.exception("sweeping expired uncommitted blocks failed")
            return
        if swept:
            log.info("removed the expired uncommitted blocks of %d blobs", swept)

    def run_once(self) -> bool:
        """Claim and run one job; False when there was none."""
        settings = self.ctx.settings
        with self.ctx.session() as s:
            job = queue.claim_next(s, self.worker_id, settings.job_lease_seconds,
                                   max_attempts=settings.max_job_attempts)  # fmt: skip
            job_id = job.id if job is not None else None
        if job_id is None:
            return False
        self._run(job_id)
        return True

    def _run(self, job_id: str) -> None:
        beat = _Heartbeat(self.ctx, job_id, self.worker_id)
        beat.start()
        try:
            with workdir.job_folder(self._work_root()) as work:
                self._process(job_id, work, beat)
        except JobCanceledError:
            self._finish(job_id, beat, "Canceled")
        except Exception as exc:
            log.exception("job %s failed", job_id)
            self._finish(job_id, beat, "Error", error=job_error(exc))
        finally:
            beat.done.set()
            beat.join()

    def _work_root(self) -> Path:
        root = self.ctx.settings.resolved_data_dir / "work"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _process(self, job_id: str, work: Path, beat: _Heartbeat) -> None:
        with self.ctx.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            if job.cancel_requested:
                raise JobCanceledError("canceled before it started")
            account = account_ref(s.get(Account, job.account_id))  # type: ignore[arg-type]
            transform = s.query(Resource).filter_by(
                account_id=account.id, kind="transforms", name_key=job.transform_key
            ).one()
            containers = {
                r.name_key: r.properties["container"]
                for r in s.query(Resource).filter_by(account_id=account.id, kind="assets")
            }
            spec = dict(job.properties)
            transform_outputs = list(transform.properties["outputs"])
            job_rules.set_state(job, "Processing")
        inputs = resolve_inputs(
            spec["input"], asset_container=containers, store=self.ctx.store, work_dir=work,
            allowed_hosts=self.ctx.settings.http_input_allowed_hosts,
            max_bytes=self.ctx.settings.http_input_max_bytes,
        )
        failed = False
        for index, (output, tout) in enumerate(zip(spec["outputs"], transform_outputs,
                                                   strict=True)):
            preset = output.get("presetOverride") or tout["preset"]
            container = containers[output["assetName"].lower()]
            ok = self._run_output(job_id, index, preset, inputs, container, work, beat)
            failed = failed or not ok
            if not ok and tout.get("onError", "StopProcessingJob") == "StopProcessingJob":
                break
        self._finish(job_id, beat, "Error" if failed else "Finished")

    def _run_output(self, job_id: str, index: int, preset: dict[str, Any],
                    inputs: list[LocalInput], container: str, work: Path,
                    beat: _Heartbeat) -> bool:
        from openvod.encoding.runner import InputFile, encode

        with self.ctx.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise JobCanceledError("the job was deleted")
            _set_output(job, index, state="Processing", startTime=iso(utcnow()), progress=0)
        beat.output_index, beat.progress = index, 0.0
        out_dir = work / f"output-{index}"
        out_dir.mkdir()
        scratch = work / f"scratch-{index}"
        scratch.mkdir()

        def on_progress(percent: float) -> None:
            beat.progress = max(0.0, min(100.0, percent))

        try:
            files = encode(
                [InputFile(i.path, i.start_seconds, i.end_seconds, i.label) for i in inputs],
                preset, out_dir, basename=inputs[0].path.stem, on_progress=on_progress,
                cancel=beat.cancel, work_dir=scratch,
            )
            if beat.lost.is_set():
                raise JobCanceledError("the lease was lost")
            self._publish(files, container)
        except JobCanceledError:
            raise
        except Exception as exc:
            log.warning("job %s output %d failed: %s", job_id, index, exc)
            with self.ctx.session() as s:
                job = s.get(Job, job_id)
                if job is not None:
                    _set_output(job, index, state="Error", error=job_error(exc),
                                endTime=iso(utcnow()))
            return False
        with self.ctx.session() as s:
            job = s.get(Job, job_id)
            if job is not None:
                _set_output(job, index, state="Finished", progress=100, endTime=iso(utcnow()))
        return True

    def _publish(self, files: list[Path], container: str) -> None:
        """Index the MP4s, then move everything into the output asset, manifests last."""
        sidecars = [write_sidecar(f) for f in files if f.suffix.lower() == ".mp4"]
        ordered = sorted(files + sidecars, key=lambda p: (p.suffix.lower() == ".ism", p.name))
        for path in ordered:
            self.ctx.store.put_file(container, path.name, path, move=True)

    def _finish(self, job_id: str, beat: _Heartbeat, state: str,
                error: dict[str, Any] | None = None) -> None:
        if beat.lost.is_set() and state != "Canceled":
            return  # another worker owns the job now
        with self.ctx.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return
            if error is not None:
                props = dict(job.properties)
                props["outputs"] = [
                    dict(o, error=o.get("error") or error)
                    if o["state"] not in job_rules.FINAL_STATES else o
                    for o in props["outputs"]
                ]
                job.properties = props
            job_rules.mark_final(job, state)
