"""The process-wide objects every component is built from, made once from the settings."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from openvod.config import Settings
from openvod.db.engine import create_db_engine, migrate, session_factory
from openvod.keys.master import MasterKey, load_master_key
from openvod.keys.storage_keys import ContainerKeys
from openvod.storage.limits import StoreLimits
from openvod.storage.local import LocalBlobStore
from openvod.storage.sealed import SealedStore
from openvod.storage.store import BlobStore


@dataclass
class Context:
    """Settings, database and blob store of one openvod process.

    ``store`` is what the services use: it encrypts and decrypts the containers of
    storage-encrypted assets (:class:`~openvod.storage.sealed.SealedStore`); its ``raw``
    is the store as SAS clients see it.
    """

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: BlobStore
    storage_key: bytes
    master_key: MasterKey
    container_keys: ContainerKeys | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    @property
    def endpoint_host_name(self) -> str:
        """hostName of streaming endpoints: the public URL's host:port."""
        url = self.settings.resolved_public_url
        return url.split("://", 1)[-1].split("/", 1)[0]


def _load_or_create_key(path: Path) -> bytes:
    """The storage account key that signs SAS URLs; made once, kept in the data folder."""
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(64)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode())
    os.replace(tmp, path)
    return key


def open_context(settings: Settings, *, run_migrations: bool = True) -> Context:
    """Create the data folder, connect and migrate the database, open the blob store."""
    data_dir = settings.resolved_data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.resolved_database_url)
    master = load_master_key(data_dir / "keys" / "master.key", settings.master_key)
    if run_migrations:
        migrate(engine, master)  # migrations wrap secrets older versions kept in clear
    limits = StoreLimits(
        max_blob_bytes=settings.blob_max_bytes,
        block_expiry_seconds=settings.uncommitted_block_hours * 3600,
    )
    raw_store = LocalBlobStore(data_dir / "blobs", limits)
    key = _load_or_create_key(data_dir / "keys" / "storage-account.key")
    sessions = session_factory(engine)
    ctx = Context(
        settings=settings,
        engine=engine,
        sessions=sessions,
        store=raw_store,
        storage_key=key,
        master_key=master,
    )
    ctx.container_keys = ContainerKeys(ctx.session, master)
    ctx.store = SealedStore(raw_store, ctx.container_keys)
    return ctx
