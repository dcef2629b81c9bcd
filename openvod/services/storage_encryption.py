"""``assets/getEncryptionKey``: the key data of a storage-encrypted asset.

What AMS's ``StorageEncryptedAssetDecryptionData`` held: the asset key (base64) and,
per file, its initialization vector (the file's 64-bit nonce as a decimal string, as
AMS gave it), name and a stable id. The key leaves the server only through here.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from sqlalchemy.orm import Session

from openvod.errors import InvalidRequestError, StorageError
from openvod.keys.master import MasterKey
from openvod.keys.storage_keys import asset_key
from openvod.services.arm import AccountRef
from openvod.services.repository import require_resource
from openvod.storage import cipher
from openvod.storage.sealed import STAGING_PREFIX
from openvod.storage.store import BlobStore


def file_id(asset_id: str, name: str) -> str:
    """A stable GUID for one file of an asset."""
    return str(uuid.uuid5(uuid.UUID(asset_id), name))


def encryption_key_data(
    session: Session, account: AccountRef, name: str, master: MasterKey, raw_store: BlobStore
) -> dict[str, Any]:
    """The key and the per-file IVs of asset ``name`` (400 if it is not encrypted)."""
    row = require_resource(session, account, "assets", name, "asset")
    key = asset_key(master, row)
    if key is None:
        raise InvalidRequestError(
            f"The asset '{row.name}' is not storage-encrypted (storageEncryptionFormat is "
            "'None'), so it has no encryption key."
        )
    container = str(row.properties["container"])
    files = []
    for info in raw_store.list_blobs(container):
        if info.name.startswith(STAGING_PREFIX):
            continue
        try:
            header = raw_store.read_range(container, info.name, 0, cipher.HEADER_BYTES)
            nonce = cipher.parse_header(header)
        except StorageError:
            continue  # not written through openvod (put there by hand): no IV to give
        files.append({
            "initializationVector": str(int.from_bytes(nonce, "big")),
            "assetFileName": info.name,
            "assetFileId": file_id(row.resource_uuid, info.name),
        })
    return {"key": base64.b64encode(key).decode("ascii"), "assetFileEncryptionMetadata": files}
