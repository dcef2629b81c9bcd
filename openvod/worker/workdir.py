"""Job work folders under ``<data_dir>/work``: owned while a job runs, swept when stale.

Each job works in ``openvod-job-XXXX/`` beside a lock file
``openvod-job-XXXX.lock`` that its worker creates first and holds an
exclusive ``flock`` on for as long as the job runs. The kernel drops the lock
when the worker exits, however it exits, so at start a worker removes every
folder whose lock it can take: the leftovers of a worker that was killed.
Folders of live workers (in this or another process) stay locked and are left
alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "openvod-job-"
LOCK_SUFFIX = ".lock"
# An empty lock file may be one a worker created a moment ago and has not locked yet.
NEW_LOCK_SECONDS = 60.0


@contextlib.contextmanager
def job_folder(root: Path) -> Iterator[Path]:
    """A fresh, locked work folder under ``root``, removed with its lock on exit."""
    root.mkdir(parents=True, exist_ok=True)
    fd, lock_name = tempfile.mkstemp(prefix=PREFIX, suffix=LOCK_SUFFIX, dir=root)
    lock = Path(lock_name)
    folder = lock.with_name(lock.name[: -len(LOCK_SUFFIX)])
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
        os.write(fd, f"{os.getpid()}\n".encode())  # written once locked: see remove_stale
        folder.mkdir()
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.unlink(missing_ok=True)
        os.close(fd)


def _take_lock(lock: Path) -> int | None:
    """An open descriptor holding ``lock`` exclusively, or None if a live worker holds it."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        stat = os.fstat(fd)
    except BlockingIOError:
        os.close(fd)
        return None
    if stat.st_size == 0 and time.time() - stat.st_mtime < NEW_LOCK_SECONDS:
        os.close(fd)
        return None
    return fd


def remove_stale(root: Path) -> list[Path]:
    """Remove the work folders under ``root`` that no live worker holds; returns them.

    A folder without its lock file (left by openvod versions before locks) is
    stale too: a live worker creates the lock before the folder.
    """
    if not root.is_dir():
        return []
    removed = []
    for lock in sorted(root.glob(f"{PREFIX}*{LOCK_SUFFIX}")):
        fd = _take_lock(lock)
        if fd is None:
            continue
        try:
            folder = lock.with_name(lock.name[: -len(LOCK_SUFFIX)])
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    for folder in sorted(root.glob(f"{PREFIX}*")):
        lock = folder.with_name(folder.name + LOCK_SUFFIX)
        if folder.is_dir() and not lock.exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    for folder in removed:
        log.info("removed the stale work folder %s", folder)
    return removed
